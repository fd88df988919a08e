/**
 * Test support for end-to-end tests of the `cordon` command against the real
 * Docker Engine: a throwaway HOME, CORDON_HOME and policy folder per test file,
 * workspaces owned by the sandbox user, and helpers that run the real CLI
 * through its real entry point.
 * Not a test itself; imported by *.docker.test.ts files.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chownSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/**
 * The installed command (npm's bin on Linux and macOS): its shell step, the
 * single-file bundle and its V8 code cache, exactly as a user runs them.
 */
export const CORDON_BIN = join(REPO_ROOT, 'bin', 'cordon');
/** The unprivileged user sandboxes run as when tests run as root. */
export const SANDBOX_UID = 1000;

export interface CordonResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export class TestEnv {
  readonly root: string;
  readonly home: string;
  readonly cordonHome: string;
  readonly policyDir: string;
  readonly env: NodeJS.ProcessEnv;

  constructor(name: string, extraEnv: NodeJS.ProcessEnv = {}) {
    this.root = realpathSync(mkdtempSync(join(tmpdir(), `cordon-${name}-`)));
    this.home = join(this.root, 'home');
    this.cordonHome = join(this.home, '.local', 'share', 'cordon');
    this.policyDir = join(this.root, 'policies');
    mkdirSync(this.cordonHome, { recursive: true });
    for (const d of ['managed', 'recommended', 'trust']) mkdirSync(join(this.policyDir, d), { recursive: true });
    // Run through sudo, the sandbox would take SUDO_UID instead of SANDBOX_UID;
    // tests that mean sudo pass it themselves.
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'SUDO_UID' && k !== 'SUDO_GID'));
    this.env = { ...inherited, HOME: this.home, CORDON_HOME: this.cordonHome, CORDON_POLICY_DIR: this.policyDir, ...extraEnv };
  }

  /** A fresh folder the sandbox user may write to. */
  workspace(name: string): string {
    const ws = join(this.root, name);
    mkdirSync(ws, { recursive: true });
    chownTree(ws);
    return ws;
  }

  /**
   * Writes a user profile derived from a built-in one (smaller limits make the
   * pids and memory tests fast) and returns its name.
   */
  profile(name: string, base: 'standard' | 'strict', patch: Record<string, unknown>): string {
    const dir = join(this.cordonHome, 'profiles');
    mkdirSync(dir, { recursive: true });
    const builtin = JSON.parse(readFileSync(join(REPO_ROOT, 'sandbox-profiles', `${base}.json`), 'utf8')) as Record<string, unknown>;
    delete builtin['$schema'];
    // Seccomp paths are relative to the profile folder; point at the built-in one.
    const p = { ...builtin, name, seccomp: join(REPO_ROOT, 'sandbox-profiles', builtin['seccomp'] as string), ...patch };
    writeFileSync(join(dir, `${name}.json`), JSON.stringify(p, null, 2));
    return name;
  }

  run(args: readonly string[], opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<CordonResult> {
    return collect(this.spawn(args, opts.env), opts.input, opts.timeoutMs ?? 120_000);
  }

  spawn(args: readonly string[], env?: NodeJS.ProcessEnv): ChildProcess {
    return spawn(CORDON_BIN, [...args], { env: { ...this.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  }

  auditRecords(): Array<Record<string, unknown> & { cordon: Record<string, unknown> }> {
    let text = '';
    try {
      text = readFileSync(join(this.cordonHome, 'audit', 'audit.jsonl'), 'utf8');
    } catch {
      return [];
    }
    return text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown> & { cordon: Record<string, unknown> });
  }

  /**
   * Cordon containers of this test environment only (any state): those with a
   * mount from inside its folder (every session mounts its session folder).
   * Counting every Cordon container on the engine would see other suites' too.
   */
  async containers(): Promise<Docker.ContainerInfo[]> {
    return (await cordonContainers()).filter((c) => c.Mounts.some((m) => (m.Source ?? '').startsWith(this.root)));
  }

  cleanup(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

export function chownTree(p: string): void {
  if (process.getuid?.() === 0) chownSync(p, SANDBOX_UID, SANDBOX_UID);
}

export function collect(child: ChildProcess, input: string | undefined, timeoutMs: number): Promise<CordonResult> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`cordon did not finish within ${timeoutMs} ms; stdout: ${stdout.slice(-500)} stderr: ${stderr.slice(-500)}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
    else child.stdin?.end();
  });
}

/** Cordon containers in the engine right now (any state). */
export async function cordonContainers(sessionId?: string): Promise<Docker.ContainerInfo[]> {
  const docker = new Docker();
  const label = sessionId ? [`dev.cordon.session=${sessionId}`] : ['dev.cordon.session'];
  return docker.listContainers({ all: true, filters: { label } });
}

/** Waits until PRED holds or TIMEOUT passes, trying every INTERVAL ms; returns whether it held. */
export async function eventually(pred: () => Promise<boolean> | boolean, timeoutMs = 15_000, intervalMs = 100): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await pred()) return true;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  return false;
}

/**
 * A loopback HTTP server standing in for a destination in egress tests: it
 * answers "reached" and records the Host and path of every request, so a
 * test can prove what went out (and that nothing did before an answer).
 */
export async function recordingServer(): Promise<{ readonly port: number; readonly hits: string[]; close(): Promise<void> }> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(`${req.headers.host ?? ''}${req.url ?? ''}`);
    res.end('reached');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, hits, close: () => new Promise((r) => server.close(() => r())) };
}

/** A shell line for the sandbox: curl HOST:PORT, printing its status line and any X-Cordon-Deny header, each prefixed with HOST. */
export function curlProbe(host: string, port: number, maxSeconds: number): string {
  return `curl -s -m ${maxSeconds} -o /dev/null -D - http://${host}:${port}/ | tr -d '\\r' | grep -E '^HTTP|^X-Cordon-Deny' | sed 's/^/${host} /'`;
}

/**
 * The outcome of ask mode's two-host scenario (curlProbe to yes.test, then
 * no.test, against SERVER): yes.test allowed (200, and the only request that
 * arrived), no.test denied with 403 and its reason header.
 */
export function assertYesAllowedNoDenied(r: CordonResult, server: { readonly port: number; readonly hits: readonly string[] }): void {
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /yes\.test HTTP\/1\.1 200/);
  assert.match(r.stdout, /no\.test HTTP\/1\.1 403/);
  assert.match(r.stdout, /no\.test X-Cordon-Deny: host_not_allowed/);
  assert.deepEqual(server.hits, [`yes.test:${server.port}/`]);
}

/** The session (id and container) that the `cordon` process PID hosts, once its sandbox runs and EXTRA holds; null after TIMEOUTMS. */
export async function runningSessionOf(pid: number | undefined, timeoutMs = 60_000, extra: () => boolean = () => true): Promise<{ id: string; containerId: string } | null> {
  let found: { id: string; containerId: string } | null = null;
  await eventually(async () => {
    const c = (await cordonContainers()).find((x) => x.Labels['dev.cordon.owner-pid'] === String(pid) && x.State === 'running');
    found = c ? { id: c.Labels['dev.cordon.session'] ?? '', containerId: c.Id } : null;
    return found !== null && extra();
  }, timeoutMs);
  return found !== null && extra() ? found : null;
}

/** Purges every quarantine T made (kept containers, images, bundles), through the real command. */
export async function purgeQuarantines(t: TestEnv): Promise<void> {
  const dir = join(t.cordonHome, 'quarantine');
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const f of names) if (f.endsWith('.json')) await t.run(['quarantine', 'purge', f.slice(0, -5)]);
}
