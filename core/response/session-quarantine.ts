/**
 * The session runner's side of quarantine (issue 20): what the process
 * hosting a session answers on its control socket's `quarantine` op. Kept
 * here so session-runner.ts only wires it in.
 */
import { join } from 'node:path';
import type { AuditSink } from '../audit/audit-event.js';
import { compileEgressRules, defaultEgressPolicy, type CompiledEgressPolicy } from '../egress/egress-policy.js';
import type { EgressProxy } from '../egress/egress-proxy.js';
import type { QuarantineHandler } from '../grants/session-control.js';
import type { KeyStore } from '../keys/key-store.js';
import type { CordonPaths } from '../paths/cordon-paths.js';
import type { EffectivePolicy } from '../policy/policy-schema.js';
import type { SandboxForensics } from '../sandbox/sandbox-forensics.js';
import { quarantineSession } from './quarantine.js';
import type { RecentOutput } from './recent-output.js';
import { loadSigningKey } from '../keys/signing-key.js';

/** Egress that allows nothing: no host, no range, enforce mode (report mode would let everything through). */
export function denyAllEgress(): CompiledEgressPolicy {
  const compiled = compileEgressRules({ ...defaultEgressPolicy(), mode: 'enforce', allow: [], allowRanges: [], resolve: {} });
  if (!compiled.ok) throw new Error(`deny-all egress policy does not compile: ${compiled.errors.join('; ')}`);
  return compiled.policy;
}

export function sessionQuarantineHandler(opts: {
  readonly sessionId: string;
  readonly containerId: string;
  readonly startedAt: Date;
  readonly workspaces: readonly { readonly path: string; readonly mode: 'ro' | 'rw' }[];
  readonly policy: () => EffectivePolicy;
  readonly revokePhantom: () => void;
  readonly proxy: EgressProxy;
  readonly recent: RecentOutput;
  readonly markEnded: (reason: string) => void;
  readonly findings?: () => readonly unknown[];
  readonly forensics: SandboxForensics;
  readonly audit: AuditSink;
  readonly paths: CordonPaths;
  readonly keyStore: () => KeyStore;
}): QuarantineHandler {
  let running: ReturnType<QuarantineHandler> | null = null;
  return (order, ack) => {
    // A second order while the first runs gets the same outcome (its ack never comes: the first already gave it).
    if (running) return running;
    running = quarantineSession(
      {
        sessionId: opts.sessionId,
        containerId: opts.containerId,
        startedAt: opts.startedAt,
        workspaces: opts.workspaces,
        policy: opts.policy(),
        live: {
          revokePhantom: opts.revokePhantom,
          closeEgress: () => {
            opts.proxy.setPolicy(denyAllEgress());
            return opts.proxy.cutConnections();
          },
          markEnded: opts.markEnded,
          recentOutput: () => opts.recent.text(),
          findings: opts.findings ?? (() => []),
        },
      },
      order,
      {
        forensics: opts.forensics,
        audit: opts.audit,
        auditDir: opts.paths.auditDir,
        home: opts.paths.home,
        signingKey: () => loadSigningKey({ keyStore: opts.keyStore(), keysDir: join(opts.paths.home, 'keys') }),
      },
      ack,
    );
    return running;
  };
}
