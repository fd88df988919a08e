import type { Readable, Writable } from 'node:stream';
import type { PlannedMount } from '../workspace/mount-plan.js';

/**
 * The one interface between Cordon's session logic and whatever isolates the
 * agent. The Docker Engine implementation (runc or gVisor) lives beside it,
 * the microVM one in microvm/; TieredEngine picks one per sandbox.
 */
export interface SandboxEngine {
  readonly name: string;
  /** Is the engine reachable, which version, which runtimes and security features. */
  probe(): Promise<EngineProbe>;
  hasImage(ref: string): Promise<boolean>;
  /** Whether AppArmor profiles can be applied (cheap: no API call for a local engine). */
  apparmorEnabled(): Promise<boolean>;
  /**
   * Creates, attaches to and starts a sandbox. Output is wired before start, so
   * nothing is lost. Throws EngineUnavailableError (with `reason`) when the
   * engine is down or lacks the image or runtime; nothing is left behind then.
   * HOOKS.whileStarting runs once the start request is on its way; if it
   * fails, the sandbox is removed and its error is thrown as it is.
   */
  start(spec: SandboxSpec, io: SandboxIo, hooks?: StartHooks): Promise<RunningSandbox>;
  /** Sandboxes carrying every label in FILTER (value "" matches any value). */
  list(filter: Readonly<Record<string, string>>): Promise<SandboxInfo[]>;
  /** Kills (if running) and removes a sandbox; a missing one is not an error. */
  remove(id: string): Promise<void>;
  /**
   * When and with which status the last sandbox carrying every label in FILTER
   * (value "" matches any value) ended at or after SINCE, from the engine's own
   * record: it outlives the sandbox's removal, and nothing inside the sandbox
   * can write it. Null when the engine no longer remembers (Docker Engine keeps
   * only its most recent events, and none across its own restart) or cannot be
   * asked. Never throws.
   */
  lastExit(filter: Readonly<Record<string, string>>, since: Date): Promise<SandboxExit | null>;
  /**
   * Arms a sentinel for running sandbox ID: a small process on the host,
   * outside this one and outside the sandbox, that kills the sandbox through
   * the engine if this process dies without standing it down. HELPER is the
   * built `cordon-sentinel`. Null where the engine is not reachable that way
   * (not on a local Unix socket) or the helper cannot start.
   */
  armSentinel(id: string, helper: string): Promise<Sentinel | null>;
}

export interface Sentinel {
  /** This process removed the sandbox itself: the sentinel exits without killing anything. */
  standDown(): void;
}

/** How a sandbox ended, as its engine recorded it. */
export interface SandboxExit {
  /** Exit status of the sandbox's first process (the relay, for Cordon sessions). */
  readonly exitCode: number;
  readonly at: Date;
  /** The engine was asked to kill it (a sentinel, `cordon stop`, `docker kill`), rather than it ending by itself. */
  readonly killed: boolean;
}

export interface StartHooks {
  /**
   * Work to overlap with the engine starting the container, its slowest step
   * (a runtime spawn, ~150 ms with runc): set-up that must be done before the
   * sandbox is used but not before it is created.
   */
  readonly whileStarting?: () => Promise<void>;
}

export type EngineProbe =
  | {
      readonly ok: true;
      readonly version: string;
      readonly runtimes: readonly string[];
      readonly apparmor: boolean;
      readonly seccomp: boolean;
    }
  | { readonly ok: false; readonly message: string };

export interface SandboxLimits {
  readonly memoryBytes: number;
  readonly nanoCpus: number;
  readonly pids: number;
  readonly tmpfsBytes: number;
}

/** Everything needed to create one hardened sandbox. Pure data. */
export interface SandboxSpec {
  readonly name: string;
  readonly image: string;
  /** Runs before the command (the egress relay, which is then PID 1); null keeps the image's and uses tini as init. */
  readonly entrypoint: readonly string[] | null;
  readonly command: readonly string[];
  /** "uid:gid", never 0. */
  readonly user: string;
  /** runc or runsc (gVisor) under Docker Engine; microvm: a QEMU microVM (core/sandbox/microvm/). */
  readonly runtime: 'runc' | 'runsc' | 'microvm';
  readonly workdir: string;
  readonly env: Readonly<Record<string, string>>;
  readonly mounts: readonly PlannedMount[];
  readonly limits: SandboxLimits;
  /** Seccomp profile JSON text. */
  readonly seccompProfile: string;
  /** AppArmor profile to apply, or null where the host has no AppArmor. */
  readonly apparmorProfile: string | null;
  /** The agent's writable home (a tmpfs; the root file system is read-only). */
  readonly homeDir: string;
  readonly tty: boolean;
  readonly labels: Readonly<Record<string, string>>;
}

export interface SandboxIo {
  readonly stdin: Readable | null;
  readonly stdout: Writable;
  readonly stderr: Writable;
}

export interface RunningSandbox {
  readonly id: string;
  /** Facts about how it runs that the session's start record carries (a microVM's `accelerator`: kvm or tcg). */
  readonly details?: Readonly<Record<string, string>>;
  /** Resolves with the exit code once the command ended and its output drained. */
  wait(): Promise<number>;
  kill(): Promise<void>;
  resize(rows: number, cols: number): Promise<void>;
}

export interface SandboxInfo {
  readonly id: string;
  readonly name: string;
  readonly state: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly createdAt: Date;
}

/** Thrown (and caught at the CLI edge) when the engine cannot be used; the message says how to fix it. */
export class EngineUnavailableError extends Error {
  override readonly name = 'EngineUnavailableError';
  constructor(
    message: string,
    readonly reason: 'engine' | 'image' | 'runtime' = 'engine',
  ) {
    super(message);
  }
}
