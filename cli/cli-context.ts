import type { CordonPaths } from '../core/paths/cordon-paths.js';
import type { PolicyLoadResult } from '../core/policy/policy-loader.js';
import { formatPolicyIssue, type EffectivePolicy } from '../core/policy/policy-schema.js';
import { DockerEngine } from '../core/sandbox/docker-engine.js';
import type { FileAuditLog } from '../core/audit/audit-log.js';
import type { KeyStore } from '../core/keys/key-store.js';
import type { HostUser } from '../core/session/sandbox-user.js';
import type { SessionStore } from '../core/session/session-store.js';
import { openCordonService } from '../core/service/open-service.js';
import type { CordonService } from '../core/service/cordon-service.js';
import { dirname } from 'node:path';
import { CliExit, productVersion } from './cli-exit.js';
import { openWithDesktop } from './desktop-open.js';
import { EXIT } from './exit-codes.js';

export { CliExit } from './cli-exit.js';

/**
 * What a command needs: the session service, built once per invocation from
 * this process's environment. Core reads no environment and prints nothing;
 * its notices arrive here and go to stderr.
 */
export class CliContext {
  readonly engine = new DockerEngine({ dockerHost: process.env['DOCKER_HOST'] });
  readonly service: CordonService = openCordonService({
    env: process.env,
    version: productVersion(),
    platform: process.platform,
    uid: process.getuid?.(),
    gid: process.getgid?.(),
    notify: (n) => process.stderr.write(`cordon: ${n.message}\n`),
    // `cordon ui` in a browser: a confirmed link and "show in folder" go to the desktop's opener.
    openExternal: (url) => openWithDesktop(process.platform, url),
    showInFolder: (path) => openWithDesktop(process.platform, dirname(path)),
    engine: this.engine,
  });

  get paths(): CordonPaths {
    return this.service.paths;
  }

  get audit(): FileAuditLog {
    return this.service.audit;
  }

  get sessions(): SessionStore {
    return this.service.sessions;
  }

  get hostUser(): HostUser {
    return this.service.hostUser;
  }

  readonly keyStore = (): KeyStore => this.service.keyStore();

  /** Every policy source, including this OS's MDM channel. */
  readonly loadPolicy = (): PolicyLoadResult => this.service.loadPolicy();

  /** The loaded policy with its sources, or a CliExit naming every problem: a broken policy stops launches. */
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

  reap(engineKnownUp: boolean): Promise<void> {
    return this.service.reap(engineKnownUp);
  }
}
