import type Docker from 'dockerode';
import { existsSync, readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { toDockerCreateOptions } from './container-spec.js';
import { startSentinel } from './engine-sentinel.js';
import { demuxDockerStream } from './docker-stream.js';
import { loadDockerode } from './dockerode-loader.js';
import {
  EngineUnavailableError,
  type EngineProbe,
  type RunningSandbox,
  type SandboxEngine,
  type SandboxExit,
  type SandboxInfo,
  type SandboxIo,
  type SandboxSpec,
  type Sentinel,
  type StartHooks,
} from './sandbox-engine.js';


/** Carries a start hook's own error through the clean-up path unchanged. */
class StartHookFailed extends Error {
  constructor(readonly original: unknown) {
    super('the start hook failed');
  }
}

/**
 * Runs the start hook once the start request has had the event-loop turns it
 * needs to reach the engine (connect, then write), so the hook's work overlaps
 * the engine's. Returns its failure, if any, as a value.
 */
async function runWhileStarting(hook: () => Promise<void>): Promise<{ error: unknown } | null> {
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  try {
    await hook();
    return null;
  } catch (error) {
    return { error };
  }
}

const DEFAULT_ENGINE_ADDRESS = '/var/run/docker.sock';

const HOW_TO_START =
  'Start Docker Engine (`sudo systemctl start docker`, or `sudo scripts/start-dockerd.sh` in a Cordon checkout) and make sure your user may use it, then run `cordon doctor`.';

/** Turns a connection error into one sentence that says what to do; ADDRESS is where the engine was sought. */
export function explainEngineError(err: unknown, address: string = DEFAULT_ENGINE_ADDRESS): string {
  const e = err as NodeJS.ErrnoException & { statusCode?: number; json?: { message?: string } };
  if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') {
    return `Docker Engine is not running (nothing answers at ${address}). ${HOW_TO_START}`;
  }
  if (e.code === 'EACCES') {
    return `Permission denied on ${address}: your user may not use Docker Engine. Add it to the "docker" group or run as an administrator.`;
  }
  const msg = e.json?.message ?? e.message ?? String(err);
  return `Docker Engine error: ${msg.trim()}`;
}

/** SandboxEngine over Docker Engine's API (runc, or gVisor's runsc runtime). */
export class DockerEngine implements SandboxEngine {
  readonly name = 'docker';
  private readonly docker: Docker;
  /** DOCKER_HOST as the adapter read it (core reads no environment); undefined is the local socket. */
  private readonly dockerHost: string | undefined;

  constructor(opts: { readonly dockerHost?: string | undefined; readonly client?: Docker } = {}) {
    this.dockerHost = opts.dockerHost;
    // dockerode reads DOCKER_HOST itself when given no options; the adapter passed the same value here.
    this.docker = opts.client ?? new (loadDockerode())();
  }

  /** Where the engine is sought, for messages. */
  private get address(): string {
    return this.dockerHost ?? DEFAULT_ENGINE_ADDRESS;
  }

  /**
   * Whether the host applies AppArmor profiles. Read from the kernel for a local
   * engine (no API round trip on the launch path); asked of the engine otherwise.
   */
  async apparmorEnabled(): Promise<boolean> {
    const host = this.dockerHost;
    if (host === undefined || host.startsWith('unix://')) {
      try {
        return readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').trim() === 'Y' && existsSync('/sys/kernel/security/apparmor');
      } catch {
        return false;
      }
    }
    const probe = await this.probe();
    return probe.ok && probe.apparmor;
  }

  async probe(): Promise<EngineProbe> {
    try {
      const info = (await this.docker.info()) as {
        ServerVersion?: string;
        Runtimes?: Record<string, unknown>;
        SecurityOptions?: string[];
      };
      const sec = info.SecurityOptions ?? [];
      return {
        ok: true,
        version: info.ServerVersion ?? 'unknown',
        runtimes: Object.keys(info.Runtimes ?? {}),
        apparmor: sec.some((s) => s.includes('apparmor')),
        seccomp: sec.some((s) => s.includes('seccomp')),
      };
    } catch (err) {
      return { ok: false, message: explainEngineError(err, this.address) };
    }
  }

  async hasImage(ref: string): Promise<boolean> {
    try {
      await this.docker.getImage(ref).inspect();
      return true;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return false;
      throw new EngineUnavailableError(explainEngineError(err, this.address));
    }
  }

  async start(spec: SandboxSpec, io: SandboxIo, hooks?: StartHooks): Promise<RunningSandbox> {
    let container: Docker.Container;
    try {
      container = await this.docker.createContainer(toDockerCreateOptions(spec));
    } catch (err) {
      // No separate probe on the launch path: the engine's own refusal says
      // what is missing, and nothing was created.
      throw classifyCreateError(err, spec);
    }
    try {
      const stream = await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true });
      const outputDone = new Promise<void>((resolve) => {
        stream.once('end', resolve);
        stream.once('close', resolve);
        stream.once('error', () => resolve());
      });
      if (spec.tty) {
        stream.pipe(io.stdout, { end: false });
      } else {
        const out = new PassThrough();
        const errOut = new PassThrough();
        out.pipe(io.stdout, { end: false });
        errOut.pipe(io.stderr, { end: false });
        demuxDockerStream(stream, out, errOut);
      }
      // Exit status is only trustworthy once the engine reports it: wait first,
      // then drain output, so a fast command's last lines are not cut off.
      // "next-exit": the default condition (not-running) is already true for a created
      // container and would report 0 before the command even started.
      const waitPromise = container.wait({ condition: 'next-exit' }) as Promise<{ StatusCode: number }>;
      const starting = container.start() as Promise<unknown>;
      let hookFailure: { error: unknown } | null = null;
      if (hooks?.whileStarting) {
        starting.catch(() => undefined);
        hookFailure = await runWhileStarting(hooks.whileStarting);
      }
      await starting;
      if (hookFailure) throw new StartHookFailed(hookFailure.error);
      if (io.stdin) {
        io.stdin.pipe(stream);
      } else {
        // Half-close: the command sees end-of-file on stdin.
        (stream as unknown as { end: () => void }).end();
      }
      const id = container.id;
      return {
        id,
        wait: async () => {
          const res = await waitPromise;
          await Promise.race([outputDone, delay(2000)]);
          return res.StatusCode;
        },
        kill: async () => {
          try {
            await container.kill({ signal: 'SIGKILL' });
          } catch {
            // Already stopped.
          }
        },
        resize: async (rows, cols) => {
          try {
            await container.resize({ h: rows, w: cols });
          } catch {
            // The container may be gone.
          }
        },
      };
    } catch (err) {
      await this.remove(container.id);
      if (err instanceof StartHookFailed) throw err.original;
      throw new EngineUnavailableError(explainEngineError(err, this.address));
    }
  }

  async list(filter: Readonly<Record<string, string>>): Promise<SandboxInfo[]> {
    const label = Object.entries(filter).map(([k, v]) => (v === '' ? k : `${k}=${v}`));
    let items: Docker.ContainerInfo[];
    try {
      items = await this.docker.listContainers({ all: true, filters: { label } });
    } catch (err) {
      throw new EngineUnavailableError(explainEngineError(err, this.address));
    }
    return items.map((c) => ({
      id: c.Id,
      name: (c.Names[0] ?? '').replace(/^\//, ''),
      state: c.State,
      labels: c.Labels,
      createdAt: new Date(c.Created * 1000),
    }));
  }

  /** Resolves once the sandbox is gone, including when the engine is already removing it (AutoRemove). */
  async remove(id: string): Promise<void> {
    const container = this.docker.getContainer(id);
    try {
      await container.remove({ force: true, v: true });
    } catch (err) {
      const code = (err as { statusCode?: number }).statusCode;
      if (code === 404) return;
      if (code !== 409) throw new EngineUnavailableError(explainEngineError(err, this.address));
      // Removal already in progress: wait until it is done, so nothing is left when we return.
      try {
        await container.wait({ condition: 'removed' });
      } catch (waitErr) {
        if ((waitErr as { statusCode?: number }).statusCode !== 404) throw new EngineUnavailableError(explainEngineError(waitErr, this.address));
      }
    }
  }

  async lastExit(filter: Readonly<Record<string, string>>, since: Date): Promise<SandboxExit | null> {
    const label = Object.entries(filter).map(([k, v]) => (v === '' ? k : `${k}=${v}`));
    try {
      // With `until` the engine replays what it remembers and ends the stream.
      const stream = await this.docker.getEvents({
        since: Math.floor(since.getTime() / 1000),
        until: Math.ceil(Date.now() / 1000) + 1,
        filters: { type: ['container'], event: ['die', 'kill'], label },
      });
      // The stream ends by itself at `until`; the bound is for an engine too busy to get there (5 s was reached on a loaded CI machine).
      return lastDieEvent(await readAll(stream, 15_000));
    } catch {
      return null;
    }
  }

  async armSentinel(id: string, helper: string): Promise<Sentinel | null> {
    // dockerode's own socket: DOCKER_HOST's unix:// path, or a function that
    // finds the default one (~/.docker/run/docker.sock, else /var/run/docker.sock);
    // none for tcp:// or ssh:// engines.
    const configured = (this.docker.modem as { socketPath?: unknown }).socketPath;
    let socket: unknown = configured;
    if (typeof configured === 'function') socket = await (configured as () => Promise<unknown>)();
    if (typeof socket !== 'string' || socket === '') return null;
    return startSentinel({ binary: helper, engineSocket: socket, containerId: id });
  }

  /** The raw client, for the image builder and tests that inspect containers. */
  get client(): Docker {
    return this.docker;
  }
}

/** Maps the engine's refusal to create a container to a message that says what is missing. */
export function classifyCreateError(err: unknown, spec: Pick<SandboxSpec, 'image' | 'runtime'>): EngineUnavailableError {
  const e = err as { statusCode?: number; json?: { message?: string }; message?: string };
  const msg = (e.json?.message ?? e.message ?? '').toLowerCase();
  if (e.statusCode === 404 && msg.includes('image')) {
    return new EngineUnavailableError(`image ${spec.image} is not in Docker Engine; build it with \`cordon image build\``, 'image');
  }
  if (msg.includes('runtime')) {
    const hint =
      spec.runtime === 'runsc'
        ? 'gVisor is not registered with Docker Engine: install it (`sudo apt-get install runsc`), add {"runtimes":{"runsc":{"path":"/usr/bin/runsc","runtimeArgs":["--network=none","--host-uds=open"]}}} to /etc/docker/daemon.json and restart dockerd, or use --profile standard'
        : `the "${spec.runtime}" runtime is not available in Docker Engine`;
    return new EngineUnavailableError(`this profile needs runtime "${spec.runtime}": ${hint}`, 'runtime');
  }
  return new EngineUnavailableError(explainEngineError(err), 'engine');
}

/** The text of STREAM until it ends, or what came within MS (an engine that keeps it open). */
function readAll(stream: NodeJS.ReadableStream, ms: number): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const done = (): void => {
      clearTimeout(timer);
      resolve(text);
    };
    const timer = setTimeout(() => {
      (stream as { destroy?: () => void }).destroy?.();
      done();
    }, ms);
    stream.on('data', (c: Buffer | string) => {
      // Bounded: a sandbox's events are a handful of short lines.
      if (text.length < 1_000_000) text += typeof c === 'string' ? c : c.toString('utf8');
    });
    stream.once('end', done);
    stream.once('error', done);
  });
}

/**
 * The last `die` in a stream of engine events (one JSON object per line, in
 * the order they happened), and whether a `kill` came since the `die` before
 * it; null when there is none.
 */
export function lastDieEvent(text: string): SandboxExit | null {
  let last: SandboxExit | null = null;
  let killed = false;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let ev: unknown;
    try {
      ev = JSON.parse(line);
    } catch {
      continue;
    }
    if (typeof ev !== 'object' || ev === null) continue;
    const e = ev as { Action?: unknown; timeNano?: unknown; time?: unknown; Actor?: { Attributes?: Record<string, unknown> } };
    const ms = typeof e.timeNano === 'number' ? e.timeNano / 1e6 : typeof e.time === 'number' ? e.time * 1000 : NaN;
    if (!Number.isFinite(ms)) continue;
    if (e.Action === 'kill') {
      killed = true;
      continue;
    }
    const code = Number(e.Actor?.Attributes?.['exitCode']);
    if (e.Action !== 'die' || !Number.isInteger(code)) continue;
    last = { exitCode: code, at: new Date(ms), killed };
    killed = false;
  }
  return last;
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
