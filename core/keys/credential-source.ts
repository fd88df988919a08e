/**
 * Where the real upstream credential comes from at request time: the KeyStore
 * (a long-lived API key in the OS keychain) or a credential command that mints
 * short-lived tokens (like AWS `credential_process`).
 *
 * Both read lazily per request, so `cordon keys rotate` reaches running
 * sessions within seconds and an expiring token is refreshed before use.
 * Failures are values with a reason and a fix; they never contain the secret,
 * and a failed refresh is never papered over with a stale or weaker credential.
 */
import { spawn } from 'node:child_process';
import type { Clock } from './clock.js';
import { validateSecret, type KeyStore, type KeyStoreErrorCode } from './key-store.js';

/** Why no credential could be produced. */
export type CredentialFailureReason =
  | KeyStoreErrorCode
  /** The credential command could not be started (not found, not executable). */
  | 'command_failed_to_start'
  /** It exited non-zero or was killed by a signal. */
  | 'command_failed'
  /** It did not finish within the timeout and was killed. */
  | 'command_timeout'
  /** It printed something other than {"token": "...", "expiresAt": "<ISO 8601>"}, or an already-expired token. */
  | 'command_bad_output';

/** A credential, or the reason there is none. */
export type CredentialResult =
  | { readonly ok: true; readonly secret: string; /** ms since epoch; null for keys that do not expire. */ readonly expiresAt: number | null }
  | { readonly ok: false; readonly reason: CredentialFailureReason; readonly message: string };

/** Produces the real credential for one provider, at the moment a request needs it. Never rejects. */
export interface CredentialSource {
  readonly provider: string;
  get(): Promise<CredentialResult>;
}

/** Options for KeyStoreCredentialSource. */
export interface KeyStoreCredentialSourceOptions {
  readonly store: KeyStore;
  readonly provider: string;
  readonly clock: Clock;
  /**
   * How long a successful read is reused. Default 2 s: enough to spare the
   * keychain a D-Bus round trip per streamed request, short enough that a
   * rotation is picked up almost at once. 0 disables caching. Failures are never cached.
   */
  readonly cacheMs?: number;
}

/** Reads the provider's key from the KeyStore at request time, with a short cache. */
export class KeyStoreCredentialSource implements CredentialSource {
  readonly provider: string;
  readonly #store: KeyStore;
  readonly #clock: Clock;
  readonly #cacheMs: number;
  #cached: { secret: string; until: number } | null = null;

  constructor(options: KeyStoreCredentialSourceOptions) {
    this.provider = options.provider;
    this.#store = options.store;
    this.#clock = options.clock;
    this.#cacheMs = Math.max(0, Math.min(options.cacheMs ?? 2000, 10_000));
  }

  async get(): Promise<CredentialResult> {
    const now = this.#clock.now();
    if (this.#cached !== null && now < this.#cached.until) return { ok: true, secret: this.#cached.secret, expiresAt: null };
    this.#cached = null;
    const result = await this.#store.get(this.provider);
    if (!result.ok) return { ok: false, reason: result.error.code, message: result.error.message };
    if (this.#cacheMs > 0) this.#cached = { secret: result.value, until: now + this.#cacheMs };
    return { ok: true, secret: result.value, expiresAt: null };
  }
}

/** Options for CommandCredentialSource. */
export interface CommandCredentialSourceOptions {
  readonly provider: string;
  /**
   * The command and its arguments, spawned directly with no shell, so nothing
   * in it is ever re-parsed. Must be non-empty; argv[0] is resolved on PATH.
   */
  readonly argv: readonly string[];
  readonly clock: Clock;
  /** Kill the command if it has not exited after this long. Default 10 s. */
  readonly timeoutMs?: number;
  /**
   * Refresh this long before `expiresAt`. Default 60 s. For tokens whose whole
   * lifetime is shorter than twice this, refresh at half-life instead, so a
   * short token is not re-fetched on every request.
   */
  readonly refreshBeforeMs?: number;
  /** Environment for the command. Default: Cordon's own environment. */
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /**
   * After a failure, return that same failure without re-running the command
   * for this long. Default 1 s: a chatty agent retrying in a loop must not turn
   * a broken command into a fork storm. 0 retries on every request.
   */
  readonly retryAfterMs?: number;
}

/** Most a credential command may print before it is treated as broken. */
const MAX_COMMAND_OUTPUT_BYTES = 64 * 1024;

interface CommandToken {
  readonly secret: string;
  readonly expiresAt: number;
  readonly refreshAt: number;
}

/**
 * Runs a credential command and keeps its token in memory only. Concurrent
 * requests during a refresh share one child process.
 *
 * Fail closed: if a refresh fails, `get` returns the failure even when the old
 * token has a few seconds left, and tries again on the next request. It never
 * falls back to a stored key or any other source.
 */
export class CommandCredentialSource implements CredentialSource {
  readonly provider: string;
  readonly #argv: readonly string[];
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  readonly #refreshBeforeMs: number;
  readonly #env: NodeJS.ProcessEnv | undefined;
  readonly #cwd: string | undefined;
  readonly #retryAfterMs: number;
  #token: CommandToken | null = null;
  #lastFailure: { readonly result: CredentialResult; readonly until: number } | null = null;
  #inflight: Promise<CredentialResult> | null = null;

  constructor(options: CommandCredentialSourceOptions) {
    const [command] = options.argv;
    if (command === undefined || command === '') throw new RangeError('credential command argv must name a program');
    this.provider = options.provider;
    this.#argv = [...options.argv];
    this.#clock = options.clock;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#refreshBeforeMs = options.refreshBeforeMs ?? 60_000;
    this.#env = options.env;
    this.#cwd = options.cwd;
    this.#retryAfterMs = Math.max(0, options.retryAfterMs ?? 1000);
  }

  get(): Promise<CredentialResult> {
    const now = this.#clock.now();
    const token = this.#token;
    if (token !== null && now < token.refreshAt) {
      return Promise.resolve({ ok: true, secret: token.secret, expiresAt: token.expiresAt });
    }
    if (this.#lastFailure !== null && now < this.#lastFailure.until) return Promise.resolve(this.#lastFailure.result);
    this.#inflight ??= this.#refresh()
      .then((result) => {
        this.#lastFailure = result.ok ? null : { result, until: this.#clock.now() + this.#retryAfterMs };
        return result;
      })
      .finally(() => {
        this.#inflight = null;
      });
    return this.#inflight;
  }

  async #refresh(): Promise<CredentialResult> {
    const previous = this.#token;
    // Drop the old token first: if this refresh fails, nothing stale remains to be used.
    this.#token = null;
    const run = await runCredentialCommand(this.#argv, { timeoutMs: this.#timeoutMs, env: this.#env, cwd: this.#cwd });
    const label = `credential command for ${this.provider} (${describeCommand(this.#argv)})`;
    if (!run.ok) return { ok: false, reason: run.reason, message: `${label} ${scrub(run.detail, previous?.secret)}` };
    const parsed = parseCredentialOutput(run.stdout, this.#clock.now());
    if (!parsed.ok) return { ok: false, reason: 'command_bad_output', message: `${label} ${parsed.detail}` };
    const now = this.#clock.now();
    const lifetime = parsed.expiresAt - now;
    const lead = Math.min(this.#refreshBeforeMs, lifetime / 2);
    this.#token = { secret: parsed.token, expiresAt: parsed.expiresAt, refreshAt: parsed.expiresAt - lead };
    return { ok: true, secret: parsed.token, expiresAt: parsed.expiresAt };
  }
}

type CommandRun =
  | { readonly ok: true; readonly stdout: string }
  | { readonly ok: false; readonly reason: 'command_failed_to_start' | 'command_failed' | 'command_timeout' | 'command_bad_output'; readonly detail: string };

interface RunOptions {
  readonly timeoutMs: number;
  readonly env: NodeJS.ProcessEnv | undefined;
  readonly cwd: string | undefined;
}

/**
 * Spawns the command (no shell, stdin closed) and collects stdout. It gets its
 * own process group so a timeout kills anything it started too; otherwise a
 * grandchild holding stdout open would keep the refresh hanging.
 */
function runCredentialCommand(argv: readonly string[], options: RunOptions): Promise<CommandRun> {
  const [command, ...args] = argv;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: CommandRun): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const child = spawn(command ?? '', args, {
      shell: false,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: process.platform !== 'win32',
      windowsHide: true,
      ...(options.env === undefined ? {} : { env: options.env }),
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    });
    const killTree = (): void => {
      try {
        if (child.pid !== undefined && process.platform !== 'win32') process.kill(-child.pid, 'SIGKILL');
        else child.kill('SIGKILL');
      } catch {
        // Already gone: nothing to kill.
      }
    };
    const timer = setTimeout(() => {
      killTree();
      finish({ ok: false, reason: 'command_timeout', detail: `did not finish within ${options.timeoutMs} ms and was killed` });
    }, options.timeoutMs);
    timer.unref();

    const stdout: Buffer[] = [];
    let stdoutBytes = 0;
    let stderrText = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdoutBytes += chunk.length;
      if (stdoutBytes > MAX_COMMAND_OUTPUT_BYTES) {
        killTree();
        finish({ ok: false, reason: 'command_bad_output', detail: `printed more than ${MAX_COMMAND_OUTPUT_BYTES} bytes and was killed` });
        return;
      }
      stdout.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderrText.length < 2048) stderrText += chunk.toString('utf8');
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'ENOENT' ? 'was not found' : err.code === 'EACCES' ? 'is not executable' : `could not be started (${err.code ?? 'error'})`;
      finish({ ok: false, reason: 'command_failed_to_start', detail: `${why}; check providers.<name>.credentialCommand in your policy` });
    });
    child.on('close', (code, signal) => {
      if (code === 0) {
        finish({ ok: true, stdout: Buffer.concat(stdout).toString('utf8') });
        return;
      }
      const how = signal !== null ? `was killed by ${signal}` : `exited with status ${code ?? 'unknown'}`;
      const firstLine = stderrText.split('\n').find((l) => l.trim() !== '')?.trim();
      finish({ ok: false, reason: 'command_failed', detail: firstLine === undefined ? how : `${how}: ${firstLine}` });
    });
  });
}

type ParsedOutput = { readonly ok: true; readonly token: string; readonly expiresAt: number } | { readonly ok: false; readonly detail: string };

/**
 * Checks the command's output. Error details describe the shape only and never
 * quote the output, which may hold a token.
 */
export function parseCredentialOutput(stdout: string, nowMs: number): ParsedOutput {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch {
    return { ok: false, detail: 'did not print valid JSON; it must print {"token": "...", "expiresAt": "<ISO 8601>"}' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { ok: false, detail: 'printed JSON that is not an object; it must print {"token": "...", "expiresAt": "<ISO 8601>"}' };
  }
  const record = parsed as Record<string, unknown>;
  const token = record['token'];
  if (typeof token !== 'string') return { ok: false, detail: 'printed no string "token" field' };
  const valid = validateSecret(token);
  if (!valid.ok) return { ok: false, detail: `printed an unusable token: ${valid.error.message}` };
  const expiresAtRaw = record['expiresAt'];
  if (typeof expiresAtRaw !== 'string' || !ISO_8601.test(expiresAtRaw)) {
    return { ok: false, detail: 'printed no "expiresAt" as an ISO 8601 date-time with a timezone (e.g. 2026-01-01T12:00:00Z)' };
  }
  const expiresAt = Date.parse(expiresAtRaw);
  if (Number.isNaN(expiresAt)) return { ok: false, detail: 'printed an "expiresAt" that is not a real date-time' };
  if (expiresAt <= nowMs) return { ok: false, detail: `printed a token that already expired at ${new Date(expiresAt).toISOString()}` };
  return { ok: true, token, expiresAt };
}

// A full date-time with an explicit zone: a zoneless time would be read as
// local time and could silently shift expiry by hours.
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

function describeCommand(argv: readonly string[]): string {
  // Only the program name: arguments might carry a profile name or, wrongly, a secret.
  const program = argv[0] ?? '';
  const base = program.split(/[\\/]/).pop() ?? program;
  return base.length > 64 ? `${base.slice(0, 64)}…` : base;
}

function scrub(text: string, knownSecret: string | undefined): string {
  let out = text;
  if (knownSecret !== undefined && knownSecret !== '') out = out.split(knownSecret).join('[redacted]');
  return out.replace(/[A-Za-z0-9_\-+/=.~]{32,}/g, '[redacted]').slice(0, 300);
}
