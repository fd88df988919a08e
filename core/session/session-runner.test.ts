/**
 * runSession end to end against the in-memory engine: the spec Cordon hands
 * the engine, teardown, refusals before any sandbox exists, Ctrl-C and live
 * policy reload. The real proxy, relay build and policy files take part;
 * only the container is simulated. The Docker versions of these tests are in
 * cli/session-lifecycle.docker.test.ts and cli/egress.docker.test.ts.
 */
import assert from 'node:assert/strict';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { MemoryAuditSink, type AuditEventInput } from '../audit/audit-event.js';
import { ManualClock } from '../keys/clock.js';
import { MemoryKeyStore } from '../keys/key-store.js';
import { resolveCordonPaths, type CordonPaths } from '../paths/cordon-paths.js';
import { DEFAULT_POLICY, type EffectivePolicy } from '../policy/policy-schema.js';
import { FakeSandboxEngine, type FakeEngineOptions } from '../testing/fake-sandbox-engine.js';
import { waitUntil } from '../testing/wait-until.js';
import { LABELS, runSession, type SessionDeps, type SessionRequest, type SessionResult } from './session-runner.js';

const root = mkdtempSync(join(tmpdir(), 'cordon-runner-'));
const userHome = join(root, 'home');
mkdirSync(join(userHome, '.ssh'), { recursive: true });
mkdirSync(join(root, 'policies'));
// One CORDON_HOME for the file: the relay and shim are built into its cache once.
const paths: CordonPaths = resolveCordonPaths({ CORDON_HOME: join(root, 'cordon'), CORDON_POLICY_DIR: join(root, 'policies') }, 'linux', userHome);
mkdirSync(paths.home, { recursive: true });
after(() => rmSync(root, { recursive: true, force: true }));

/** A key that must never reach the sandbox, an audit record or the spec. */
const REAL_KEY = 'sk-ant-api03-REALKEY-never-in-the-sandbox-0123456789';

interface Harness {
  readonly engine: FakeSandboxEngine;
  readonly audit: MemoryAuditSink;
  readonly deps: SessionDeps;
  readonly stdout: PassThrough;
}

async function harness(engineOpts: FakeEngineOptions = {}, policy: EffectivePolicy = DEFAULT_POLICY): Promise<Harness> {
  const engine = new FakeSandboxEngine(engineOpts);
  const audit = new MemoryAuditSink();
  const keys = new MemoryKeyStore(new ManualClock());
  const stored = await keys.set('anthropic', REAL_KEY);
  assert.ok(stored.ok);
  const stdout = new PassThrough();
  const hostUser = { uid: process.getuid?.() ?? 1000, gid: process.getgid?.() ?? 1000, sudo: null };
  const deps: SessionDeps = { engine, audit, paths, policy, io: { stdin: null, stdout, stderr: new PassThrough() }, keyStore: () => keys, hostUser };
  return { engine, audit, deps, stdout };
}

let wsCount = 0;
function workspace(): string {
  const ws = join(root, `ws-${wsCount++}`);
  mkdirSync(ws);
  // Run as root, the sandbox is 1000:1000, and it must be able to write here.
  if (process.getuid?.() === 0) chownSync(ws, 1000, 1000);
  return ws;
}

function execRequest(ws: string, extra: Partial<SessionRequest> = {}): SessionRequest {
  return { kind: 'exec', workspaces: [{ path: ws, mode: 'rw' }], env: {}, command: ['sh', '-c', 'true'], tty: false, ...extra };
}

/** Set by Cordon after everything else, so nothing the profile or --env sets can point elsewhere. */
const EGRESS_VARS = ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy', 'NO_PROXY', 'no_proxy', 'ANTHROPIC_BASE_URL'];

const kinds = (audit: MemoryAuditSink): string[] => audit.events.map((e) => e.kind);
const sessionFolders = (): string[] => (existsSync(paths.sessionsDir) ? readdirSync(paths.sessionsDir) : []);

function assertNothingLeft(h: Harness, ws: string | null): void {
  assert.equal(h.engine.sandboxes.size, 0, 'a sandbox is left in the engine');
  assert.deepEqual(sessionFolders(), [], 'a session folder is left');
  if (ws !== null) assert.deepEqual(readdirSync(ws), [], 'a placeholder is left in the workspace');
}

describe('a session', () => {
  test('runs, returns the exit code, and tears everything down', async () => {
    const h = await harness({ exitCode: 3, stdout: 'hello from the sandbox\n' });
    const ws = workspace();
    let seenDuring: string[] = [];
    const deps: SessionDeps = { ...h.deps, onStarted: () => (seenDuring = readdirSync(ws)) };
    const r = await runSession(execRequest(ws), deps);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.exitCode, 3);
    assert.equal(r.cancelled, false);
    assert.ok(seenDuring.includes('.mcp.json'), `placeholders exist while the session runs: ${seenDuring.join(', ')}`);
    assert.equal(String(h.stdout.read() as Buffer | null), 'hello from the sandbox\n');
    const [spec] = h.engine.specs;
    assert.ok(spec);
    const containerId = h.engine.calls.find((c) => c.startsWith('created '))?.slice('created '.length) ?? '';
    assert.ok(h.engine.calls.includes(`remove ${containerId}`), h.engine.calls.join('\n'));
    assertNothingLeft(h, ws);
    const ours = kinds(h.audit).filter((k) => k.startsWith('session.'));
    assert.deepEqual(ours, ['session.start', 'session.stop']);
    const start = h.audit.events.find((e) => e.kind === 'session.start');
    const stop = h.audit.events.find((e) => e.kind === 'session.stop');
    assert.equal(start?.sessionId, spec.labels[LABELS.session]);
    assert.equal(start?.details?.['container_id'], containerId);
    assert.equal(stop?.details?.['exit_code'], 3);
  });

  test('hands the engine a hardened spec: never root, read-only plumbing, egress variables last, no real key', async () => {
    const h = await harness({ exitCode: 0 });
    const ws = workspace();
    const r = await runSession(execRequest(ws, { env: { MY_SETTING: '1' } }), h.deps);
    assert.ok(r.ok);
    const spec = h.engine.specs[0];
    assert.ok(spec);
    const [uid, gid] = spec.user.split(':');
    assert.match(spec.user, /^\d+:\d+$/);
    assert.notEqual(uid, '0');
    assert.notEqual(gid, '0');
    assert.equal(spec.runtime, 'runc');
    assert.ok(spec.entrypoint?.[0]?.includes('cordon-relay'), `the relay is PID 1: ${JSON.stringify(spec.entrypoint)}`);
    assert.ok(spec.mounts.some((m) => m.kind === 'workspace' && m.containerPath === ws && !m.readOnly), JSON.stringify(spec.mounts));
    const plumbing = spec.mounts.filter((m) => m.kind === 'cordon');
    assert.ok(plumbing.some((m) => m.containerPath === '/run/cordon/egress'));
    assert.ok(plumbing.filter((m) => m.containerPath !== '/run/cordon/grants').every((m) => m.readOnly), 'the sandbox cannot change its own relay or proxy socket');
    // The grants folder is writable as a mount only when grants are live (root's 0755 folder, slave propagation); a copy is read-only.
    const grants = plumbing.find((m) => m.containerPath === '/run/cordon/grants');
    assert.ok(grants);
    assert.equal(grants.readOnly, grants.propagation !== 'rslave');
    assert.ok(spec.mounts.filter((m) => m.kind === 'protect').every((m) => m.readOnly));
    const keys = Object.keys(spec.env);
    const firstProxy = Math.min(...EGRESS_VARS.map((k) => keys.indexOf(k)));
    assert.ok(firstProxy > keys.indexOf('MY_SETTING'));
    assert.ok(
      keys.slice(firstProxy).every((k) => EGRESS_VARS.includes(k) || k === 'LD_PRELOAD' || k.startsWith('CORDON_EGRESS_')),
      `only egress variables come after the first proxy variable: ${keys.slice(firstProxy).join(', ')}`,
    );
    assert.equal(spec.labels[LABELS.ownerPid], String(process.pid));
    // The sandbox holds a phantom, never the key itself, and no record does either.
    assert.match(spec.env['ANTHROPIC_API_KEY'] ?? '', /^cdn_ph_/);
    assert.ok(!JSON.stringify(spec).includes(REAL_KEY), 'the real key reached the spec');
    assert.ok(!JSON.stringify(h.audit.events).includes(REAL_KEY), 'the real key reached the audit trail');
  });

  test('--env cannot point the sandbox past the proxy or swap in its own key', async () => {
    const h = await harness({ exitCode: 0 });
    const hostile = Object.fromEntries(EGRESS_VARS.map((k) => [k, 'http://elsewhere.example:1']));
    const r = await runSession(execRequest(workspace(), { env: { ...hostile, NO_PROXY: '*', no_proxy: '*', ANTHROPIC_API_KEY: 'sk-their-own' } }), h.deps);
    assert.ok(r.ok);
    const env = h.engine.specs[0]?.env ?? {};
    for (const k of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy']) assert.equal(env[k], 'http://127.0.0.1:3128', k);
    assert.equal(env['NO_PROXY'], '');
    assert.equal(env['no_proxy'], '');
    assert.equal(env['ANTHROPIC_BASE_URL'], 'http://127.0.0.1:3128/model/anthropic');
    assert.match(env['ANTHROPIC_API_KEY'] ?? '', /^cdn_ph_/);
  });

  test('Ctrl-C kills the sandbox and tears down; the stop record says cancelled', async () => {
    const h = await harness({ exitCode: null });
    const ws = workspace();
    const ctl = new AbortController();
    const done = runSession(execRequest(ws), h.deps, ctl.signal);
    await waitUntil('the sandbox runs', () => h.engine.running().length === 1);
    ctl.abort();
    const r = await done;
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.cancelled, true);
    assert.equal(r.exitCode, 137);
    const kill = h.engine.calls.findIndex((c) => c.startsWith('kill '));
    const remove = h.engine.calls.findIndex((c) => c.startsWith('remove '));
    assert.ok(kill >= 0 && remove > kill, h.engine.calls.join('\n'));
    assertNothingLeft(h, ws);
    assert.equal(h.audit.events.find((e) => e.kind === 'session.stop')?.details?.['cancelled'], true);
  });
});

describe('refused before any sandbox exists', () => {
  /** The refusal is audited, nothing reached the engine's create, nothing is left. */
  function assertRefused(h: Harness, r: SessionResult, code: string, kind: string, ws: string | null): AuditEventInput {
    assert.equal(r.ok, false);
    if (r.ok) throw new Error('unreachable');
    assert.equal(r.failure.code, code, r.failure.message);
    assert.ok(!h.engine.calls.some((c) => c.startsWith('created ')), h.engine.calls.join('\n'));
    assertNothingLeft(h, ws);
    assert.ok(!kinds(h.audit).includes('session.start'));
    const rec = h.audit.events.find((e) => e.kind === kind);
    assert.ok(rec, `${kind} not audited: ${kinds(h.audit).join(', ')}`);
    assert.equal(rec.outcome, 'failure');
    return rec;
  }

  test('an unknown profile', async () => {
    const h = await harness({ exitCode: 0 });
    const r = await runSession(execRequest(workspace(), { profile: 'no-such-profile' }), h.deps);
    const rec = assertRefused(h, r, 'profile', 'session.refused', null);
    assert.match(rec.message, /no profile named "no-such-profile"/);
    assert.equal(h.engine.specs.length, 0);
  });

  test('a profile whose file does not validate', async () => {
    mkdirSync(join(paths.home, 'profiles'), { recursive: true });
    writeFileSync(join(paths.home, 'profiles', 'broken.json'), JSON.stringify({ name: 'broken', image: 'x', runtime: 'docker-default-root' }));
    const h = await harness({ exitCode: 0 });
    const r = await runSession(execRequest(workspace(), { profile: 'broken' }), h.deps);
    assertRefused(h, r, 'profile', 'session.refused', null);
  });

  test('a profile the policy does not allow', async () => {
    const h = await harness({ exitCode: 0 }, { ...DEFAULT_POLICY, sandbox: { profile: 'strict', allowedProfiles: ['strict'] } });
    const r = await runSession(execRequest(workspace(), { profile: 'standard' }), h.deps);
    const rec = assertRefused(h, r, 'policy', 'session.refused', null);
    assert.match(rec.message, /"standard" is not allowed by policy/);
  });

  test('a workspace holding a credential store: every refusal audited', async () => {
    const h = await harness({ exitCode: 0 });
    const ws = workspace();
    const r = await runSession(execRequest(ws, { workspaces: [{ path: ws, mode: 'rw' }, { path: join(userHome, '.ssh'), mode: 'ro' }] }), h.deps);
    const rec = assertRefused(h, r, 'mount', 'mount.deny', ws);
    assert.equal(rec.details?.['rule'], 'credential_store');
    assert.equal(h.engine.specs.length, 0);
  });

  for (const missing of ['engine', 'image', 'runtime'] as const) {
    test(`the engine reports its ${missing} missing`, async () => {
      const h = await harness({ missing });
      const ws = workspace();
      const r = await runSession(execRequest(ws), h.deps);
      const rec = assertRefused(h, r, missing, 'session.fail', ws);
      assert.match(rec.message, new RegExp(`fake: .*${missing === 'engine' ? 'not running' : missing}`));
      assert.ok(!kinds(h.audit).includes('session.stop'));
    });
  }
});

describe('live policy', () => {
  let server: Server;
  let port = 0;
  before(async () => {
    server = createServer((_req, res) => res.end('upstream'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  /** Status and deny reason of a plain-HTTP request sent through the session's proxy socket. */
  function viaProxy(socketPath: string): Promise<{ status: number; deny: string | undefined }> {
    return new Promise((resolve, reject) => {
      const req = request({ socketPath, path: `http://svc.test:${port}/`, headers: { host: `svc.test:${port}` } }, (res) => {
        res.resume();
        const deny = res.headers['x-cordon-deny'];
        res.on('end', () => resolve({ status: res.statusCode ?? 0, deny: Array.isArray(deny) ? deny[0] : deny }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  test('a valid change to the user policy file reaches the running proxy; an invalid one is rejected', async () => {
    const h = await harness({ exitCode: null });
    const ctl = new AbortController();
    const done = runSession(execRequest(workspace()), h.deps, ctl.signal);
    try {
      await waitUntil('the sandbox runs', () => h.engine.running().length === 1);
      const sessionId = h.engine.specs[0]?.labels[LABELS.session] ?? '';
      const socket = join(paths.sessionsDir, sessionId, 'egress', 'proxy.sock');
      const before = await viaProxy(socket);
      assert.equal(before.status, 403, 'svc.test is not allowed by the default policy');
      assert.ok(before.deny);

      writeFileSync(paths.userPolicyFile, JSON.stringify({ egress: { allow: [`svc.test:${port}`], allowRanges: ['127.0.0.0/8'], resolve: { 'svc.test': '127.0.0.1' } } }));
      await waitUntil('policy.reloaded', () => kinds(h.audit).includes('policy.reloaded'));
      const reload = h.audit.events.find((e) => e.kind === 'policy.reloaded');
      assert.ok((reload?.details?.['allow'] as string[] | undefined)?.includes(`svc.test:${port}`), JSON.stringify(reload?.details));
      assert.equal(reload?.sessionId, sessionId);
      assert.equal((await viaProxy(socket)).status, 200, 'the running proxy allows the newly allowed host');

      writeFileSync(paths.userPolicyFile, '{"egress": {"allow": [], "mode": "sometimes"}}');
      await waitUntil('policy.reload_rejected', () => kinds(h.audit).includes('policy.reload_rejected'));
      assert.equal(kinds(h.audit).filter((k) => k === 'policy.reloaded').length, 1, 'the invalid change was not applied');
      assert.equal((await viaProxy(socket)).status, 200, 'the last good policy stays in force');
    } finally {
      ctl.abort();
      rmSync(paths.userPolicyFile, { force: true });
    }
    const r = await done;
    assert.ok(r.ok);
    assertNothingLeft(h, null);
  });
});
