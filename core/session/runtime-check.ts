import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { SandboxProfile } from '../profiles/profile-schema.js';
import type { SandboxEngine, SandboxSpec } from '../sandbox/sandbox-engine.js';
import { LABELS } from './session-runner.js';

export type RuntimeCheck = { readonly ok: true; readonly ms: number } | { readonly ok: false; readonly message: string };

/** What `cordon doctor` runs: statx(2) on every entry of `/`, the call Debian 12's runsc got wrong. */
export const RUNTIME_CHECK_COMMAND = ['ls', '-la', '/'] as const;

/**
 * Runs RUNTIME_CHECK_COMMAND once in PROFILE's image under its runtime, as a
 * session would (Cordon's hardened container: no network, read-only root, no
 * capabilities, the profile's seccomp and limits, USER), and says whether it
 * worked. Why: a runtime can be registered with the engine and still not run
 * an agent; Debian 12's runsc answers statx(2) with EINVAL, so `ls` fails in
 * every strict sandbox. The container is removed whatever happens; after
 * TIMEOUTMS it is killed and the check fails.
 */
export async function checkRuntimeRunsLs(
  engine: SandboxEngine,
  opts: { readonly profile: SandboxProfile; readonly seccompProfile: string; readonly user: string; readonly apparmorProfile: string | null; readonly timeoutMs?: number },
): Promise<RuntimeCheck> {
  const { profile } = opts;
  let output = '';
  // Only the first few hundred bytes go into a message.
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (output.length < 4096) output += chunk.toString('utf8');
      cb();
    },
  });
  const homeDir = profile.env['HOME'] ?? '/home/agent';
  const spec: SandboxSpec = {
    name: `cordon-check-${randomBytes(4).toString('hex')}`,
    image: profile.image,
    entrypoint: null,
    command: [...RUNTIME_CHECK_COMMAND],
    user: opts.user,
    runtime: profile.runtime,
    workdir: '/',
    env: { HOME: homeDir },
    mounts: [],
    limits: {
      memoryBytes: profile.limits.memoryMiB * 1024 * 1024,
      nanoCpus: Math.round(profile.limits.cpus * 1e9),
      pids: profile.limits.pids,
      tmpfsBytes: profile.limits.tmpfsMiB * 1024 * 1024,
    },
    seccompProfile: opts.seccompProfile,
    apparmorProfile: opts.apparmorProfile,
    homeDir,
    tty: false,
    labels: { [LABELS.kind]: 'runtime-check', [LABELS.profile]: profile.name },
  };
  const started = Date.now();
  let id: string | null = null;
  let timer: NodeJS.Timeout | undefined;
  try {
    const running = await engine.start(spec, { stdin: null, stdout: sink, stderr: sink });
    id = running.id;
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const exit = await Promise.race([running.wait(), timedOut]);
    if (exit === 'timeout') return { ok: false, message: `\`${RUNTIME_CHECK_COMMAND.join(' ')}\` under ${profile.runtime} did not finish in ${timeoutMs / 1000} s` };
    // A listing of `/` always has these; an empty or partial one is not a pass.
    if (exit === 0 && /\setc\n/.test(output) && /\susr\n/.test(output)) return { ok: true, ms: Date.now() - started };
    return { ok: false, message: `\`${RUNTIME_CHECK_COMMAND.join(' ')}\` in ${profile.image} under ${profile.runtime} exited ${exit}: ${firstLines(output)}` };
  } catch (err) {
    return { ok: false, message: `could not run ${profile.image} under ${profile.runtime}: ${(err as Error).message}` };
  } finally {
    if (timer) clearTimeout(timer);
    if (id !== null) await engine.remove(id).catch(() => undefined);
  }
}

function firstLines(text: string): string {
  const lines = text.trim().split('\n').slice(0, 3).join(' | ');
  return lines === '' ? '(no output)' : lines.length > 300 ? `${lines.slice(0, 300)}…` : lines;
}
