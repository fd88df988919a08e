import { FileAuditLog } from '../core/audit/audit-log.js';
import { resolveCordonPaths, type CordonPaths } from '../core/paths/cordon-paths.js';
import { loadPolicy, type PolicyLoadResult } from '../core/policy/policy-loader.js';
import { platformPolicySource } from '../core/policy/platform-sources.js';
import { formatPolicyIssue, type EffectivePolicy } from '../core/policy/policy-schema.js';
import { DockerEngine } from '../core/sandbox/docker-engine.js';
import { reapOrphans, hasOrphanRecords } from '../core/session/session-reaper.js';
import { SessionStore } from '../core/session/session-store.js';
import { CliExit, productVersion } from './cli-exit.js';
import { EXIT } from './exit-codes.js';
import type { KeyStore } from '../core/keys/key-store.js';
import { lazyKeyringStore } from './lazy-key-store.js';
import { ROOT_FALLBACK_USER, sudoCaller, type HostUser } from '../core/session/sandbox-user.js';

export { CliExit } from './cli-exit.js';

/** Everything a command needs, built once per invocation from the environment. */
export class CliContext {
  readonly paths: CordonPaths = resolveCordonPaths();
  /**
   * Who runs Cordon: the sandbox's user follows it, and under `sudo cordon …`
   * follows the account behind sudo. Platforms without uids (Windows) count
   * as the unprivileged stand-in.
   */
  readonly hostUser: HostUser = ((): HostUser => {
    const uid = process.getuid?.() ?? ROOT_FALLBACK_USER.uid;
    const gid = process.getgid?.() ?? ROOT_FALLBACK_USER.gid;
    return { uid, gid, sudo: sudoCaller(uid, process.env['SUDO_UID'], process.env['SUDO_GID']) };
  })();
  private auditLog: FileAuditLog | undefined;
  private engineInstance: DockerEngine | undefined;

  get audit(): FileAuditLog {
    this.auditLog ??= new FileAuditLog({ dir: this.paths.auditDir, productVersion: productVersion() });
    return this.auditLog;
  }

  get engine(): DockerEngine {
    this.engineInstance ??= new DockerEngine();
    return this.engineInstance;
  }

  private keyStoreInstance: KeyStore | undefined;

  /**
   * The OS keychain (Secret Service, macOS Keychain, Windows Credential
   * Manager). Its native binding loads on first use, so commands that never
   * touch a key do not pay for it.
   */
  readonly keyStore = (): KeyStore => {
    this.keyStoreInstance ??= lazyKeyringStore();
    return this.keyStoreInstance;
  };

  get sessions(): SessionStore {
    return new SessionStore(this.paths.sessionsDir);
  }

  /** The effective policy, or a CliExit naming every problem: a broken policy stops launches. */
  /** Every policy source, including this OS's MDM channel. */
  readonly loadPolicy = (): PolicyLoadResult => loadPolicy(this.paths, { platform: platformPolicySource() });

  /** The loaded policy with its sources, or a CliExit naming every problem. */
  loadedPolicy(): Extract<PolicyLoadResult, { ok: true }> {
    const res = this.loadPolicy();
    if (!res.ok) {
      const lines = res.issues.map((i) => `  ${formatPolicyIssue(i)}`);
      throw new CliExit(EXIT.policyInvalid, `policy is invalid, so no session may start:\n${lines.join('\n')}\nFix the file(s) above (\`cordon policy validate FILE\` checks one).`);
    }
    return res;
  }

  policy(): EffectivePolicy {
    return this.loadedPolicy().policy;
  }

  /**
   * Removes sessions left by launchers that died. With `engineKnownUp` false it
   * touches the engine only when a session folder belongs to a dead launcher.
   */
  async reap(engineKnownUp: boolean): Promise<void> {
    if (!engineKnownUp && !hasOrphanRecords(this.sessions)) return;
    try {
      const reaped = await reapOrphans(this.engine, this.sessions, this.audit);
      if (reaped.length > 0) process.stderr.write(`cordon: cleaned up ${reaped.length} session(s) left by a launcher that died: ${reaped.join(', ')}\n`);
    } catch {
      // The engine is down: the orphan cannot run either; the next command retries.
    }
  }
}

