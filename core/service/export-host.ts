/**
 * Runs audit export (issue 20, core/export/) while this process hosts a
 * session: every session host is a long-lived process that can deliver, and
 * one process per destination does (a lease). When the last session this
 * process hosts ends, delivery drains for up to two seconds and stops; records
 * written while no session runs go with the next one (or `cordon audit export`).
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { writeCheckpoint } from '../audit/checkpoints.js';
import { loadSigningKey, type SigningKey } from '../keys/signing-key.js';
import type { AuditSink } from '../audit/audit-event.js';
import { startAuditExport, type AuditExport } from '../export/audit-exporter.js';
import type { KeyStore } from '../keys/key-store.js';
import type { EffectivePolicy } from '../policy/policy-schema.js';

/** How often a checkpoint is signed while sessions run. */
export const CHECKPOINT_EVERY_MS = 60_000;

export class ExportHost {
  private holders = 0;
  private running: AuditExport | null = null;
  private stopping: Promise<void> = Promise.resolve();
  private ticker: NodeJS.Timeout | null = null;
  private key: Promise<SigningKey | null> | null = null;

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
    const cfg = policy.audit.export;
    for (const u of cfg.unsupported) this.deps.notify(`audit export: ${u}`);
    this.holders++;
    if (!this.ticker) {
      this.ticker = setInterval(() => void this.checkpoint(), CHECKPOINT_EVERY_MS);
      this.ticker.unref();
    }
    if (!this.running && cfg.destinations.length > 0) {
      this.running = startAuditExport({
        auditDir: this.deps.auditDir,
        audit: this.deps.audit,
        destinations: cfg.destinations,
        maxBacklogRecords: cfg.maxBacklogRecords,
        transport: { host: hostname(), version: this.deps.version, keyStore: this.deps.keyStore },
      });
    }
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      if (--this.holders > 0) return;
      if (this.ticker) clearInterval(this.ticker);
      this.ticker = null;
      // The session's end is vouched for before it is exported.
      await this.checkpoint();
      if (!this.running) return;
      const exp = this.running;
      this.running = null;
      // The session's last records (its stop) go out before this process exits.
      await exp.drain(2000);
      this.stopping = exp.stop();
      await this.stopping;
    };
  }
}
