/**
 * Runs audit export (issue 20, core/export/) while this process hosts a
 * session: every session host is a long-lived process that can deliver, and
 * one process per destination does (a lease). When the last session this
 * process hosts ends, delivery drains for up to two seconds and stops; records
 * written while no session runs go with the next one (or `cordon audit export`).
 */
import { hostname } from 'node:os';
import type { AuditSink } from '../audit/audit-event.js';
import { startAuditExport, type AuditExport } from '../export/audit-exporter.js';
import type { KeyStore } from '../keys/key-store.js';
import type { EffectivePolicy } from '../policy/policy-schema.js';

export class ExportHost {
  private holders = 0;
  private running: AuditExport | null = null;
  private stopping: Promise<void> = Promise.resolve();

  constructor(private readonly deps: { readonly auditDir: string; readonly audit: AuditSink; readonly keyStore: () => KeyStore; readonly version: string; readonly notify: (message: string) => void }) {}

  /** Starts delivery for POLICY's destinations if none runs; returns the release for this holder. */
  hold(policy: EffectivePolicy): () => Promise<void> {
    const cfg = policy.audit.export;
    for (const u of cfg.unsupported) this.deps.notify(`audit export: ${u}`);
    this.holders++;
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
      if (--this.holders > 0 || !this.running) return;
      const exp = this.running;
      this.running = null;
      // The session's last records (its stop) go out before this process exits.
      await exp.drain(2000);
      this.stopping = exp.stop();
      await this.stopping;
    };
  }
}
