/**
 * Runs audit export (issue 20, core/export/) in every long-lived Cordon
 * process: while it hosts a session (hold), and for its whole life in the
 * app, `cordon ui` and `cordon audit export --follow` (serve), so records
 * written between sessions (`cordon audit`, key changes, quarantine release,
 * policy reloads) leave at once. One process per destination delivers (a
 * lease); the others wait and take over when it ends. When the last holder
 * releases, delivery drains for up to two seconds and stops.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { writeCheckpoint } from '../audit/checkpoints.js';
import { loadSigningKey, type SigningKey } from '../keys/signing-key.js';
import type { AuditSink } from '../audit/audit-event.js';
import { startAuditExport, type AuditExport } from '../export/audit-exporter.js';
import type { KeyStore } from '../keys/key-store.js';
import type { EffectivePolicy } from '../policy/policy-schema.js';
import type { PolicyChange } from '../policy/policy-watch.js';
import type { LeaseEvent } from '../export/audit-exporter.js';

type ExportConfig = EffectivePolicy['audit']['export'];

/** How often a checkpoint is signed while sessions run. */
export const CHECKPOINT_EVERY_MS = 60_000;

export class ExportHost {
  private holders = 0;
  private running: AuditExport | null = null;
  private stopping: Promise<void> = Promise.resolve();
  private ticker: NodeJS.Timeout | null = null;
  private key: Promise<SigningKey | null> | null = null;
  /** The `audit.export` section delivery runs with; null while nothing holds delivery. */
  private config: ExportConfig | null = null;
  /** Restarts after a policy change, one at a time. */
  private restarting: Promise<void> = Promise.resolve();
  private onLease: ((e: LeaseEvent) => void) | undefined;

  constructor(private readonly deps: { readonly auditDir: string; readonly home: string; readonly audit: AuditSink; readonly keyStore: () => KeyStore; readonly version: string; readonly notify: (message: string) => void }) {}

  /**
   * Signs a checkpoint of the chain if records were added since the last one
   * (core/audit/checkpoints.ts). Every CHECKPOINT_EVERY_MS while sessions run,
   * and when the last one ends. No key (fail closed): no checkpoint, one notice.
   */
  async checkpoint(): Promise<void> {
    this.key ??= loadSigningKey({ keyStore: this.deps.keyStore(), keysDir: join(this.deps.home, 'keys') }).then((r) => {
      if (!r.ok) this.deps.notify(`audit checkpoints are not signed: ${r.message}`);
      return r.ok ? r.key : null;
    });
    const key = await this.key;
    if (!key) return;
    try {
      writeCheckpoint(this.deps.auditDir, key, this.deps.audit);
    } catch (err) {
      this.deps.notify(`audit checkpoint not written: ${(err as Error).message}`);
    }
  }

  /** Starts delivery for POLICY's destinations if none runs; returns the release for this holder. */
  hold(policy: EffectivePolicy): () => Promise<void> {
    this.holders++;
    if (!this.ticker) {
      this.ticker = setInterval(() => void this.checkpoint(), CHECKPOINT_EVERY_MS);
      this.ticker.unref();
    }
    // Not while configured: a resident serve (or a restart it is making) owns the configuration.
    if (this.config === null) this.start(policy.audit.export);
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      if (--this.holders > 0) return;
      if (this.ticker) clearInterval(this.ticker);
      this.ticker = null;
      // The session's end is vouched for before it is exported.
      await this.checkpoint();
      await this.restarting;
      // A holder that came while we waited keeps delivery running.
      if (this.holders > 0) return;
      this.config = null;
      if (!this.running) return;
      const exp = this.running;
      this.running = null;
      // The session's last records (its stop) go out before this process exits.
      await exp.drain(2000);
      this.stopping = exp.stop();
      await this.stopping;
    };
  }

  /**
   * Delivers for as long as this process runs (until the returned stop):
   * starting with POLICY, and following WATCH's policy changes — a changed
   * `audit.export` restarts delivery with it (cursors make that seamless); an
   * invalid policy keeps the last good one. ONLEASE hears who delivers each
   * destination (`cordon audit export --follow` prints it).
   */
  serve(policy: EffectivePolicy, watch: (onChange: (change: PolicyChange) => void) => () => void, onLease?: (e: LeaseEvent) => void): () => Promise<void> {
    this.onLease = onLease;
    const release = this.hold(policy);
    let warned = false;
    const stopWatching = watch((change) => {
      if (!change.ok) {
        if (!warned) this.deps.notify('audit export: the changed policy is invalid; delivery keeps the last good one');
        warned = true;
        return;
      }
      warned = false;
      const next = change.policy.audit.export;
      if (JSON.stringify(next) === JSON.stringify(this.config)) return;
      this.restarting = this.restarting.then(async () => {
        const old = this.running;
        this.running = null;
        await old?.stop();
        if (this.holders > 0) this.start(next);
      });
    });
    return async () => {
      stopWatching();
      await release();
    };
  }

  private start(cfg: ExportConfig): void {
    this.config = cfg;
    if (cfg.destinations.length === 0) return;
    this.running = startAuditExport({
      auditDir: this.deps.auditDir,
      audit: this.deps.audit,
      destinations: cfg.destinations,
      maxBacklogRecords: cfg.maxBacklogRecords,
      transport: { host: hostname(), version: this.deps.version, keyStore: this.deps.keyStore },
      ...(this.onLease ? { onLease: this.onLease } : {}),
    });
  }
}
