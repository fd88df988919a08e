/**
 * Builds the session service with the real adapters: Docker Engine, the OS
 * keychain, the hash-chained audit log and every policy source. The CLI, the
 * Electron main process and `cordon ui` call this with what they read from
 * their own process (its environment, ids and version); core reads none of it.
 */
import { FileAuditLog } from '../audit/audit-log.js';
import { desktopClipboard, type HostClipboard } from '../clipboard/host-clipboard.js';
import type { KeyStore } from '../keys/key-store.js';
import { lazyKeyringStore } from '../keys/lazy-keyring-store.js';
import { resolveCordonPaths } from '../paths/cordon-paths.js';
import { loadPolicy } from '../policy/policy-loader.js';
import { platformPolicySource } from '../policy/platform-sources.js';
import { DockerForensics } from '../sandbox/docker-forensics.js';
import { DockerEngine } from '../sandbox/docker-engine.js';
import { MicroVmEngine } from '../sandbox/microvm/microvm-engine.js';
import { MicroVmForensics, TieredForensics } from '../sandbox/microvm/microvm-forensics.js';
import { TieredEngine } from '../sandbox/tiered-engine.js';
import { ROOT_FALLBACK_USER, sudoCaller, type HostUser } from '../session/sandbox-user.js';
import { CordonService, type ServiceNotice } from './cordon-service.js';

export interface ProcessFacts {
  /** The adapter's environment (CORDON_HOME, CORDON_POLICY_DIR, CORDON_CONNECT_SHIM, proxy variables, SUDO_UID …). */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly version: string;
  readonly platform: NodeJS.Platform;
  /** The process's uid and gid; undefined where the platform has none (Windows). */
  readonly uid: number | undefined;
  readonly gid: number | undefined;
  readonly notify: (notice: ServiceNotice) => void;
  /** Opens a link in the browser and a folder in the file manager, where the adapter has a desktop. */
  readonly openExternal?: (url: string) => void;
  readonly showInFolder?: (path: string) => void;
  /**
   * The host clipboard the sandbox's clipboard tools reach (Electron's in the
   * app); absent, the desktop's tools found from `env` (xclip, wl-clipboard,
   * pbcopy), or none on a headless machine.
   */
  readonly clipboard?: HostClipboard | null;
  /** The app only: a dropped file's host path from the renderer is accepted (see CordonServiceDeps). */
  readonly trustsRendererPaths?: boolean;
  /** The app only: starts a desktop drag of a file the gate wrote. */
  readonly startDrag?: (file: string) => void;
  /** The engine client, when the adapter needs its Docker specifics too (`cordon image build`). */
  readonly engine?: DockerEngine;
}

const PROXY_VARS = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy'];

export function openCordonService(facts: ProcessFacts): CordonService {
  const paths = resolveCordonPaths(facts.env, facts.platform);
  const audit = new FileAuditLog({ dir: paths.auditDir, productVersion: facts.version });
  let keyStore: KeyStore | undefined;
  const docker = facts.engine ?? new DockerEngine({ dockerHost: facts.env['DOCKER_HOST'] });
  return new CordonService({
    paths,
    // Containers through Docker Engine; the vm profile's microVMs (issue 21) built from its images.
    engine: new TieredEngine(docker, () => new MicroVmEngine({ docker: docker.client, cacheDir: paths.cacheDir })),
    audit,
    // The native keychain binding (~25 ms) loads on first use only.
    keyStore: () => (keyStore ??= lazyKeyringStore()),
    hostUser: hostUserOf(facts),
    loadPolicy: () => loadPolicy(paths, { platform: platformPolicySource() }),
    settings: {
      version: facts.version,
      platform: facts.platform,
      connectShim: !/^(0|off|no|false)$/i.test(facts.env['CORDON_CONNECT_SHIM'] ?? ''),
      hostProxyEnv: Object.fromEntries(PROXY_VARS.filter((k) => facts.env[k] !== undefined).map((k) => [k, facts.env[k]])),
    },
    notify: facts.notify,
    clipboard: facts.clipboard !== undefined ? facts.clipboard : desktopClipboard(facts.env, facts.platform),
    // Quarantine's pause/inspect/keep (issue 20), on the same engine (dockerode reads DOCKER_HOST as DockerEngine does).
    forensics: () => new TieredForensics(() => new DockerForensics(), () => new MicroVmForensics({ cacheDir: paths.cacheDir, euid: process.geteuid?.() ?? 1000 })),
    ...(facts.openExternal ? { openExternal: facts.openExternal } : {}),
    ...(facts.showInFolder ? { showInFolder: facts.showInFolder } : {}),
    ...(facts.trustsRendererPaths === true ? { trustsRendererPaths: true } : {}),
    ...(facts.startDrag ? { startDrag: facts.startDrag } : {}),
  });
}

/**
 * Who runs Cordon: the sandbox's user follows it, and under `sudo cordon …`
 * the account behind sudo. Platforms without uids count as the unprivileged
 * stand-in.
 */
export function hostUserOf(facts: Pick<ProcessFacts, 'uid' | 'gid' | 'env'>): HostUser {
  const uid = facts.uid ?? ROOT_FALLBACK_USER.uid;
  const gid = facts.gid ?? ROOT_FALLBACK_USER.gid;
  return { uid, gid, sudo: sudoCaller(uid, facts.env['SUDO_UID'], facts.env['SUDO_GID']) };
}
