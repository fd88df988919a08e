import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { ensureHelperBuilt, type HelperBuild } from '../egress/helper-build.js';
import { installRoot } from '../paths/install-root.js';
import type { Sentinel } from './sandbox-engine.js';

/**
 * Returns the path of a built `cordon-sentinel` (core/sandbox/sentinel/),
 * building it into `<cacheDir>/sentinel/` when missing. Never throws.
 */
export function ensureSentinel(cacheDir: string, sourceDir: string = join(installRoot(), 'core', 'sandbox', 'sentinel')): HelperBuild {
  if (process.platform !== 'linux') return { ok: false, message: 'the sandbox sentinel is built for Linux only' };
  return ensureHelperBuilt({ name: 'cordon-sentinel', what: 'sandbox sentinel', sourceDir, cacheDir: join(cacheDir, 'sentinel'), mode: 0o700 });
}

/**
 * Starts `cordon-sentinel` for one container on a local engine socket: a host
 * process, in a session of its own, that kills the container through the
 * engine if this process dies without calling `standDown()` (see
 * cordon-sentinel.c for why the relay's lifeline alone is not enough under
 * gVisor). Null when it cannot be started; the relay's lifeline still holds.
 */
export function startSentinel(opts: { readonly binary: string; readonly engineSocket: string; readonly containerId: string; readonly graceMs?: number }): Sentinel | null {
  let child;
  try {
    child = spawn(opts.binary, ['--engine', opts.engineSocket, '--container', opts.containerId, '--grace-ms', String(opts.graceMs ?? 250)], {
      // Its own session: a signal to this process's group or terminal must not reach it.
      detached: true,
      // Nothing to say to anyone: holding this process's stdout or stderr open
      // would keep whoever reads them waiting after this process died.
      stdio: ['pipe', 'ignore', 'ignore'],
      env: {},
    });
  } catch {
    return null;
  }
  child.on('error', () => undefined);
  const pipe = child.stdin as (Writable & { unref?: () => void }) | null;
  if (!pipe) return null;
  pipe.on('error', () => undefined);
  // Neither the child nor its pipe keeps this process alive; the session does.
  child.unref();
  pipe.unref?.();
  return {
    standDown: () => {
      // 'd' then end-of-file: the sandbox was removed here, nothing to kill.
      if (!pipe.destroyed) pipe.end('d');
    },
  };
}
