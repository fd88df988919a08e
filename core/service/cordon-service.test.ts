/**
 * The session service over the in-memory engine, a real audit log and real
 * policy files: what the CLI, the app and `cordon ui` all call. The Docker
 * Engine versions run through bin/cordon (cli/*.docker.test.ts) and the
 * served UI (e2e/).
 */
import assert from 'node:assert/strict';
import { chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FileAuditLog } from '../audit/audit-log.js';
import type { ApiEvent } from '../api/cordon-api.js';
import { ManualClock } from '../keys/clock.js';
import { MemoryKeyStore } from '../keys/key-store.js';
import { resolveCordonPaths } from '../paths/cordon-paths.js';
import { loadPolicy } from '../policy/policy-loader.js';
import { LABELS } from '../session/session-runner.js';
import { currentOwner } from '../session/owner-process.js';
import { FakeSandboxEngine } from '../testing/fake-sandbox-engine.js';
import { waitUntil } from '../testing/wait-until.js';
import { CordonService, type ServiceNotice } from './cordon-service.js';

const root = mkdtempSync(join(tmpdir(), 'cordon-service-'));
after(() => rmSync(root, { recursive: true, force: true }));
const REAL_KEY = 'sk-ant-api03-service-test-key-never-returned-0123456789';
let n = 0;

function service(engine = new FakeSandboxEngine()): { svc: CordonService; engine: FakeSandboxEngine; keys: MemoryKeyStore; notices: ServiceNotice[]; policyDir: string; home: string } {
  const dir = join(root, `s${n++}`);
  const home = join(dir, 'cordon');
  const policyDir = join(dir, 'policies');
  mkdirSync(join(policyDir, 'managed'), { recursive: true });
  // One cache for every service in this file: the relay is built once.
  const paths = { ...resolveCordonPaths({ CORDON_HOME: home, CORDON_POLICY_DIR: policyDir }, 'linux', join(dir, 'userhome')), cacheDir: join(root, 'cache') };
  const keys = new MemoryKeyStore(new ManualClock());
  const notices: ServiceNotice[] = [];
  const svc = new CordonService({
    paths,
    engine,
    audit: new FileAuditLog({ dir: paths.auditDir, productVersion: 'test' }),
    keyStore: () => keys,
    hostUser: { uid: process.getuid?.() ?? 1000, gid: process.getgid?.() ?? 1000, sudo: null },
    loadPolicy: () => loadPolicy(paths, { platform: null }),
    settings: { version: '9.9.9', platform: 'linux', connectShim: true, hostProxyEnv: {} },
    notify: (x) => notices.push(x),
  });
  return { svc, engine, keys, notices, policyDir, home };
}

/** A session another live Cordon process runs (this process stands in as its owner, so the reaper leaves it). */
const planted = (engine: FakeSandboxEngine, id: string): void => {
  const owner = currentOwner();
  engine.plant({ [LABELS.session]: id, [LABELS.ownerPid]: String(owner.pid), [LABELS.ownerStart]: owner.start, [LABELS.profile]: 'standard', [LABELS.kind]: 'launch' });
};

test('list shows every Cordon session in the engine, whoever started it', async () => {
  const { svc, engine } = service();
  planted(engine, 'aaaa00000001');
  engine.plant({ unrelated: 'yes' });
  const r = await svc.dispatch('sessions.list', {});
  assert.ok(r.ok, JSON.stringify(r));
  const list = r.value as Array<{ id: string; attachable: boolean; profile: string }>;
  assert.deepEqual(list.map((s) => s.id), ['aaaa00000001']);
  assert.equal(list[0]?.attachable, false, 'a session another process hosts has no terminal here');
  assert.equal(list[0]?.profile, 'standard');
});

test('stop: a unique prefix stops and audits; ambiguous and unknown ids stop nothing', async () => {
  const { svc, engine } = service();
  planted(engine, 'bbbb00000001');
  planted(engine, 'bbbb00000002');
  assert.deepEqual(await svc.stop({ id: 'bbbb' }, 'test'), { kind: 'ambiguous', message: '"bbbb" matches 2 sessions; give more of the id' });
  assert.equal((await svc.stop({ id: 'cccc' }, 'test')).kind, 'not_found');
  assert.equal(engine.sandboxes.size, 2);
  const r = await svc.dispatch('sessions.stop', { sessionId: 'bbbb00000002' });
  assert.deepEqual(r, { ok: true, value: { stopped: ['bbbb00000002'] } });
  assert.equal(engine.sandboxes.size, 1);
  const stops = svc.recentAudit(10).filter((x) => x.kind === 'session.stop_requested');
  assert.equal(stops.length, 1);
  assert.equal(stops[0]?.sessionId, 'bbbb00000002');
  assert.equal(stops[0]?.details['requested_by'], 'the Cordon app');
});

test('with the engine down, list and stop answer "unavailable" with what to do', async () => {
  const { svc } = service(new FakeSandboxEngine({ missing: 'engine' }));
  const r = await svc.dispatch('sessions.list', {});
  assert.deepEqual(r, { ok: false, error: { code: 'unavailable', message: 'fake engine is down' } });
  assert.equal((await svc.stop({ all: true }, 'test')).kind, 'engine_unavailable');
});

test('keys: set stores in the keychain and the answer never holds the key', async () => {
  const { svc, keys } = service();
  const r = await svc.dispatch('keys.set', { provider: 'anthropic', secret: REAL_KEY });
  assert.ok(r.ok);
  assert.equal(JSON.stringify(r).includes(REAL_KEY), false);
  assert.equal((r.value as { state: string }).state, 'present');
  const stored = await keys.get('anthropic');
  assert.ok(stored.ok && stored.value === REAL_KEY);
  const status = await svc.dispatch('keys.status', {});
  assert.ok(status.ok);
  assert.equal(JSON.stringify(status).includes(REAL_KEY), false);
  const removed = await svc.dispatch('keys.remove', { provider: 'anthropic' });
  assert.ok(removed.ok && (removed.value as { state: string }).state === 'absent');
});

test('a role without launch is refused before anything starts, in the app as in the CLI', async () => {
  const { svc, engine, policyDir } = service();
  writeFileSync(join(policyDir, 'managed', 'role.json'), JSON.stringify({ role: 'viewer', features: { viewer: { launch: false } } }));
  const info = await svc.dispatch('app.info', {});
  assert.ok(info.ok);
  assert.deepEqual((info.value as { role: string; features: unknown }).features, { launch: false, exec: true, changeSettings: true });
  const r = await svc.dispatch('sessions.launch', { workspaces: [{ path: root, mode: 'ro' }] });
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.error.code, 'forbidden');
  assert.deepEqual(engine.specs, []);
});

test('policy.effective: managed values are locked and name their source', async () => {
  const { svc, policyDir } = service();
  writeFileSync(join(policyDir, 'managed', 'egress.json'), JSON.stringify({ egress: { mode: 'enforce' } }));
  const r = await svc.dispatch('policy.effective', {});
  assert.ok(r.ok);
  const v = r.value as { managed: boolean; values: Array<{ path: string; source: string; locked: boolean; file: string | null }> };
  assert.equal(v.managed, true);
  const mode = v.values.find((x) => x.path === 'egress.mode');
  assert.deepEqual({ source: mode?.source, locked: mode?.locked, file: mode?.file }, { source: 'managed', locked: true, file: join(policyDir, 'managed', 'egress.json') });
  const ttl = v.values.find((x) => x.path === 'keys.phantomTtlMinutes');
  assert.deepEqual({ source: ttl?.source, locked: ttl?.locked }, { source: 'default', locked: false });
});

test('subscribers get records another process writes to the log, with the session counts', async (t) => {
  const { svc, engine } = service();
  planted(engine, 'dddd00000001');
  const events: ApiEvent[] = [];
  const unsubscribe = svc.subscribe((e) => events.push(e));
  t.after(unsubscribe);
  t.after(() => svc.close());
  // A second writer, as another Cordon process would be.
  const other = new FileAuditLog({ dir: svc.paths.auditDir, productVersion: 'other' });
  const egress = (kind: string): void =>
    other.record({ kind, ocsfClass: 'http_activity', activity: { id: 6, name: 'Traffic' }, outcome: kind === 'egress.deny' ? 'failure' : 'success', message: kind, sessionId: 'dddd00000001', details: { host: 'x.test' } });
  egress('egress.deny');
  egress('egress.deny');
  egress('egress.allow');
  await waitUntil('three audit events', () => events.filter((e) => e.type === 'audit').length >= 3);
  const r = await svc.dispatch('sessions.list', {});
  assert.ok(r.ok);
  const [s] = r.value as Array<{ counts: { allowed: number; denied: number } }>;
  assert.deepEqual(s?.counts, { allowed: 1, denied: 2, dlpFindings: 0 });
});

test('a hosted session: output reaches subscribers and the backlog, input reaches the agent, stop ends it', async (t) => {
  const { svc, engine, keys } = service();
  await keys.set('anthropic', REAL_KEY);
  const ws = join(root, 'hosted-ws');
  mkdirSync(ws);
  if (process.getuid?.() === 0) chownSync(ws, 1000, 1000);
  const events: ApiEvent[] = [];
  t.after(svc.subscribe((e) => events.push(e)));
  t.after(() => svc.close());
  const launched = await svc.dispatch('sessions.launch', { workspaces: [{ path: ws, mode: 'rw' }] });
  assert.ok(launched.ok, JSON.stringify(launched));
  const id = (launched.value as { sessionId: string }).sessionId;
  const [sandbox] = engine.running();
  assert.ok(sandbox?.io);
  assert.equal(sandbox.spec?.tty, true);
  sandbox.io.stdout.write('Welcome to the agent \u2713\r\n');
  await waitUntil('terminal output event', () => events.some((e) => e.type === 'terminal.output' && e.sessionId === id));
  const attach = await svc.dispatch('terminal.attach', { sessionId: id });
  assert.deepEqual(attach, { ok: true, value: { backlog: 'Welcome to the agent \u2713\r\n' } });
  const typed: Buffer[] = [];
  sandbox.io.stdin?.on('data', (b: Buffer) => typed.push(b));
  assert.ok((await svc.dispatch('terminal.input', { sessionId: id, data: 'hello\r' })).ok);
  await waitUntil('input reaches the sandbox', () => Buffer.concat(typed).toString() === 'hello\r');
  // A paste through the app's terminal passes the gate (issue 18): the agent gets it redacted, the user a notice event.
  const pasteKey = 'AKIAQ3EGRTWXZ7PLKM4N';
  assert.ok((await svc.dispatch('terminal.input', { sessionId: id, data: `\x1b[200~key ${pasteKey}\x1b[201~!` })).ok);
  await waitUntil('the paste reaches the sandbox', () => Buffer.concat(typed).toString().endsWith('!'));
  assert.equal(Buffer.concat(typed).toString(), 'hello\r\x1b[200~key [REDACTED:aws_access_key_id]\x1b[201~!');
  assert.ok(events.some((e) => e.type === 'notice' && /paste redacted: aws_access_key_id/.test(e.message) && !e.message.includes(pasteKey)));
  assert.ok((await svc.dispatch('terminal.resize', { sessionId: id, cols: 120, rows: 40 })).ok);
  assert.deepEqual(sandbox.resizes.at(-1), { rows: 40, cols: 120 });
  const list = await svc.dispatch('sessions.list', {});
  assert.ok(list.ok && (list.value as Array<{ attachable: boolean }>)[0]?.attachable === true);
  assert.ok((await svc.dispatch('sessions.stop', { sessionId: id })).ok);
  await waitUntil('terminal exit event', () => events.some((e) => e.type === 'terminal.exit' && e.sessionId === id));
  assert.deepEqual(svc.hostedSessions(), []);
  assert.equal(engine.sandboxes.size, 0);
  const unknown = await svc.dispatch('terminal.input', { sessionId: id, data: 'x' });
  assert.equal(unknown.ok, false);
  if (!unknown.ok) assert.equal(unknown.error.code, 'not_found');
});

test('a launch that cannot start answers with the reason and leaves nothing', async () => {
  const { svc, engine } = service();
  const r = await svc.dispatch('sessions.launch', { workspaces: [{ path: join(root, 'no-such-folder'), mode: 'rw' }] });
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.error.code, 'failed');
  assert.equal(engine.sandboxes.size, 0);
  assert.deepEqual(svc.hostedSessions(), []);
});

test('session counts: DLP findings are summed per detector, and a request report mode let through counts as allowed', async (t) => {
  const { svc, engine } = service();
  planted(engine, 'eeee00000001');
  const events: ApiEvent[] = [];
  t.after(svc.subscribe((e) => events.push(e)));
  t.after(() => svc.close());
  const other = new FileAuditLog({ dir: svc.paths.auditDir, productVersion: 'other' });
  other.record({
    kind: 'dlp.findings',
    ocsfClass: 'data_security_finding',
    activity: { id: 1, name: 'Create' },
    outcome: 'success',
    message: 'findings',
    sessionId: 'eeee00000001',
    details: { provider: 'anthropic', action: 'rewrite', findings: [{ detector: 'email', category: 'pii', count: 3, action: 'redact' }, { detector: 'aws_access_key_id', category: 'secret', count: 2, action: 'tokenize' }] },
  });
  other.record({ kind: 'egress.would_deny', ocsfClass: 'http_activity', activity: { id: 6, name: 'Traffic' }, outcome: 'success', message: 'report mode', sessionId: 'eeee00000001', details: { host: 'x.test' } });
  await waitUntil('two audit events', () => events.filter((e) => e.type === 'audit').length >= 2);
  const r = await svc.dispatch('sessions.list', {});
  assert.ok(r.ok);
  const [s] = r.value as Array<{ counts: unknown }>;
  assert.deepEqual(s?.counts, { allowed: 1, denied: 0, dlpFindings: 5 });
});

test('audit.recent reads the newest records from the end of the log, oldest first, per session', async () => {
  const { svc } = service();
  const log = new FileAuditLog({ dir: svc.paths.auditDir, productVersion: 'test' });
  for (let i = 0; i < 30; i++) {
    log.record({ kind: 'egress.deny', ocsfClass: 'http_activity', activity: { id: 5, name: 'Refuse' }, outcome: 'failure', message: `r${i}`, sessionId: i % 2 === 0 ? 'aaaa00000000' : 'bbbb00000000', details: {} });
  }
  const r = await svc.dispatch('audit.recent', { limit: 3, sessionId: 'bbbb00000000' });
  assert.ok(r.ok);
  assert.deepEqual((r.value as Array<{ message: string }>).map((x) => x.message), ['r25', 'r27', 'r29']);
});

test('session counts: seeded from the log once, then kept current by the follower without counting a record twice', async (t) => {
  const { svc, engine } = service();
  planted(engine, 'ffff00000001');
  const other = new FileAuditLog({ dir: svc.paths.auditDir, productVersion: 'other' });
  const deny = (): void => other.record({ kind: 'egress.deny', ocsfClass: 'http_activity', activity: { id: 5, name: 'Refuse' }, outcome: 'failure', message: 'deny', sessionId: 'ffff00000001', details: {} });
  deny();
  const counts = async (): Promise<unknown> => {
    const r = await svc.dispatch('sessions.list', {});
    assert.ok(r.ok);
    return (r.value as Array<{ counts: unknown }>)[0]?.counts;
  };
  const events: ApiEvent[] = [];
  t.after(svc.subscribe((e) => events.push(e)));
  t.after(() => svc.close());
  // One record from before this process followed the log, one it saw arrive, before anyone listed.
  deny();
  await waitUntil('the first live record', () => events.filter((e) => e.type === 'audit').length >= 1);
  assert.deepEqual(await counts(), { allowed: 0, denied: 2, dlpFindings: 0 }, 'both, from the log');
  deny();
  await waitUntil('the second live record', () => events.filter((e) => e.type === 'audit').length >= 2);
  assert.deepEqual(await counts(), { allowed: 0, denied: 3, dlpFindings: 0 }, 'and then from the follower');
  assert.deepEqual(await counts(), { allowed: 0, denied: 3, dlpFindings: 0 }, 'listing again counts nothing twice');
});
