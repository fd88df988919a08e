import { randomBytes } from 'node:crypto';
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
} from '../sandbox/sandbox-engine.js';

/** A label filter as the engine applies it: every key present, and equal unless the wanted value is empty. */
function labelsMatch(labels: Readonly<Record<string, string>>, filter: Readonly<Record<string, string>>): boolean {
  return Object.entries(filter).every(([k, v]) => k in labels && (v === '' || labels[k] === v));
}

/**
 * Test support (not a test): a SandboxEngine that keeps its "containers" in
 * memory, so session logic (runSession, live policy reload, the reaper,
 * teardown) runs end to end in unit tests. It records every spec it is given
 * and every call in order, and can be told to fail the way Docker Engine
 * does. Nothing runs: a sandbox exits when the test says so, when killed
 * (code 137, as after SIGKILL), or at once with `exitCode` if set.
 */
export interface FakeEngineOptions {
  /**
   * What is missing, as Docker Engine would report it: `engine` (down:
   * probe fails, start/list/remove/hasImage throw), `image` or `runtime`
   * (start throws; nothing is created). Null: everything works.
   */
  readonly missing?: 'engine' | 'image' | 'runtime' | null;
  /** A started sandbox exits at once with this code (after writing `stdout`); null runs until killed or `exit()`. */
  readonly exitCode?: number | null;
  /** Written to the session's stdout before an immediate exit. */
  readonly stdout?: string;
  readonly apparmor?: boolean;
  readonly runtimes?: readonly string[];
  readonly images?: readonly string[];
}

export type FakeState = 'running' | 'exited';

/** One sandbox the fake knows about: started through `start`, or planted with `plant` (left by another launcher). */
export class FakeSandbox {
  state: FakeState = 'running';
  exitCode: number | null = null;
  /** When it exited, and whether the engine was asked to kill it (what `lastExit` reports). */
  exitedAt: Date | null = null;
  killed = false;
  readonly resizes: Array<{ rows: number; cols: number }> = [];
  /** The streams the session handed the engine: a test writes the agent's output and reads its input here. */
  io: SandboxIo | null = null;
  readonly #exited: Promise<number>;
  #resolveExit: (code: number) => void = () => undefined;

  constructor(
    readonly id: string,
    readonly name: string,
    readonly labels: Readonly<Record<string, string>>,
    readonly spec: SandboxSpec | null,
    readonly createdAt: Date,
  ) {
    this.#exited = new Promise<number>((resolve) => {
      this.#resolveExit = resolve;
    });
  }

  /** Ends the command with CODE; later calls change nothing (a process exits once). */
  exit(code: number, killed = false): void {
    if (this.state === 'exited') return;
    this.state = 'exited';
    this.exitCode = code;
    this.exitedAt = new Date();
    this.killed = killed;
    this.#resolveExit(code);
  }

  waitExit(): Promise<number> {
    return this.#exited;
  }
}

export class FakeSandboxEngine implements SandboxEngine {
  readonly name = 'fake';
  /** Every spec given to `start`, in order, including ones that failed to start. */
  readonly specs: SandboxSpec[] = [];
  /** Every engine call in order: `start <name>`, `created <id>`, `kill <id>`, `remove <id>`, `list`, … */
  readonly calls: string[] = [];
  /** Sandboxes that exist (not yet removed), by id. */
  readonly sandboxes = new Map<string, FakeSandbox>();
  /** Every sandbox ever started or planted, removed ones included (the engine's event history). */
  readonly history: FakeSandbox[] = [];
  missing: 'engine' | 'image' | 'runtime' | null;
  readonly #opts: FakeEngineOptions;

  constructor(opts: FakeEngineOptions = {}) {
    this.#opts = opts;
    this.missing = opts.missing ?? null;
  }

  probe(): Promise<EngineProbe> {
    this.calls.push('probe');
    if (this.missing === 'engine') return Promise.resolve({ ok: false, message: 'fake engine is down' });
    return Promise.resolve({ ok: true, version: 'fake-1', runtimes: [...(this.#opts.runtimes ?? ['runc', 'runsc'])], apparmor: this.#opts.apparmor ?? false, seccomp: true });
  }

  hasImage(ref: string): Promise<boolean> {
    this.calls.push(`hasImage ${ref}`);
    return this.#whenUp(() => this.missing !== 'image' && (this.#opts.images?.includes(ref) ?? true));
  }

  apparmorEnabled(): Promise<boolean> {
    return Promise.resolve(this.#opts.apparmor ?? false);
  }

  async start(spec: SandboxSpec, io: SandboxIo, hooks?: StartHooks): Promise<RunningSandbox> {
    this.calls.push(`start ${spec.name}`);
    this.specs.push(spec);
    await this.#whenUp(() => undefined);
    // Checked where Docker Engine checks them (at create): nothing exists yet.
    if (this.missing === 'image') throw new EngineUnavailableError(`fake: image ${spec.image} is not present`, 'image');
    if (this.missing === 'runtime' || !(this.#opts.runtimes ?? ['runc', 'runsc']).includes(spec.runtime)) {
      throw new EngineUnavailableError(`fake: runtime ${spec.runtime} is not configured`, 'runtime');
    }
    const id = randomBytes(32).toString('hex');
    const sandbox = new FakeSandbox(id, spec.name, spec.labels, spec, new Date());
    sandbox.io = io;
    this.sandboxes.set(id, sandbox);
    this.history.push(sandbox);
    this.calls.push(`created ${id}`);
    if (hooks?.whileStarting) {
      try {
        await hooks.whileStarting();
      } catch (err) {
        // As the real engine: the half-started sandbox goes, the hook's error is thrown as it is.
        await this.remove(id);
        throw err;
      }
    }
    if (this.#opts.exitCode !== undefined && this.#opts.exitCode !== null) {
      if (this.#opts.stdout !== undefined) io.stdout.write(this.#opts.stdout);
      sandbox.exit(this.#opts.exitCode);
    }
    return {
      id,
      wait: () => sandbox.waitExit(),
      kill: () => {
        this.calls.push(`kill ${id}`);
        sandbox.exit(137, true);
        return Promise.resolve();
      },
      resize: (rows, cols) => {
        sandbox.resizes.push({ rows, cols });
        return Promise.resolve();
      },
    };
  }

  list(filter: Readonly<Record<string, string>>): Promise<SandboxInfo[]> {
    this.calls.push('list');
    return this.#whenUp(() =>
      [...this.sandboxes.values()]
        .filter((s) => labelsMatch(s.labels, filter))
        .map((s) => ({ id: s.id, name: s.name, state: s.state, labels: s.labels, createdAt: s.createdAt })),
    );
  }

  /** Kills and forgets a sandbox; a missing one is not an error (as the real engine). */
  remove(id: string): Promise<void> {
    this.calls.push(`remove ${id}`);
    return this.#whenUp(() => {
      this.sandboxes.get(id)?.exit(137, true);
      this.sandboxes.delete(id);
    });
  }

  /** The latest recorded exit of a sandbox matching FILTER at or after SINCE, removed ones included. */
  lastExit(filter: Readonly<Record<string, string>>, since: Date): Promise<SandboxExit | null> {
    this.calls.push('lastExit');
    return this.#whenUp(() => {
      const ended = this.history.filter((s) => s.exitedAt !== null && s.exitedAt >= since && labelsMatch(s.labels, filter));
      const last = ended.at(-1);
      return last?.exitedAt && last.exitCode !== null ? { exitCode: last.exitCode, at: last.exitedAt, killed: last.killed } : null;
    });
  }

  /** Records the arming; standing down is recorded too. Nothing watches this process: tests never die. */
  armSentinel(id: string): Promise<Sentinel | null> {
    this.calls.push(`sentinel ${id}`);
    return Promise.resolve({ standDown: () => void this.calls.push(`standDown ${id}`) });
  }

  /** Adds a running sandbox that this engine did not start (one a killed launcher left behind). */
  plant(labels: Readonly<Record<string, string>>, name = `planted-${this.sandboxes.size}`): FakeSandbox {
    const sandbox = new FakeSandbox(randomBytes(32).toString('hex'), name, labels, null, new Date());
    this.sandboxes.set(sandbox.id, sandbox);
    this.history.push(sandbox);
    return sandbox;
  }

  /** Sandboxes started by `start` that still run. */
  running(): FakeSandbox[] {
    return [...this.sandboxes.values()].filter((s) => s.spec !== null && s.state === 'running');
  }

  #whenUp<T>(work: () => T): Promise<T> {
    if (this.missing === 'engine') return Promise.reject(new EngineUnavailableError('fake: the engine is not running', 'engine'));
    return Promise.resolve(work());
  }
}
