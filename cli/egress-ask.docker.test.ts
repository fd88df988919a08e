/**
 * `egress.mode: "ask"` in a real session (issue 17): curl inside `cordon exec`
 * to a host the allow list does not name waits while the request sits in the
 * user's approval queue; `cordon approvals allow|deny ID`, run as another
 * process, decides it. Names are pinned to loopback (`egress.resolve`), so no
 * test asks DNS and nothing leaves the machine.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { assertYesAllowedNoDenied, collect, curlProbe, eventually, recordingServer, TestEnv } from './test-harness.js';

const t = new TestEnv('egress-ask');
let server: Awaited<ReturnType<typeof recordingServer>>;

before(async () => {
  server = await recordingServer();
});
after(async () => {
  await server.close();
  t.cleanup();
});

function setPolicy(doc: unknown): void {
  writeFileSync(join(t.cordonHome, 'policy.json'), JSON.stringify(doc));
}

interface Pending {
  id: string;
  session: string;
  kind: string;
  target: string;
  status: string;
}

async function pendingFor(target: string): Promise<Pending> {
  let found: Pending | undefined;
  const ok = await eventually(async () => {
    const r = await t.run(['approvals', 'list', '--json']);
    assert.equal(r.code, 0, r.stderr);
    found = (JSON.parse(r.stdout) as Pending[]).find((p) => p.target === target && p.status === 'pending');
    return found !== undefined;
  }, 60_000);
  assert.ok(ok && found, `no pending request for ${target}`);
  return found;
}

const CURL = (host: string): string => curlProbe(host, server.port, 40);

test('a request the allow list does not name waits for the answer: allowed it goes through, denied it gets 403 with the reason', async () => {
  setPolicy({ egress: { mode: 'ask', allowRanges: ['127.0.0.0/8'], resolve: { 'yes.test': '127.0.0.1', 'no.test': '127.0.0.1' } }, approvals: { timeoutSeconds: 60 } });
  const ws = t.workspace('ws-ask');
  const script = [CURL('yes.test'), CURL('no.test')].join('; ');
  const run = collect(t.spawn(['exec', '--workspace', ws, '--', 'sh', '-c', script]), undefined, 150_000);
  const yes = await pendingFor(`yes.test:${server.port}`);
  assert.equal(yes.kind, 'network');
  assert.deepEqual(server.hits, [], 'the request went out before anyone answered');
  const allow = await t.run(['approvals', 'allow', yes.id]);
  assert.equal(allow.code, 0, allow.stderr);
  const no = await pendingFor(`no.test:${server.port}`);
  const deny = await t.run(['approvals', 'deny', no.id]);
  assert.equal(deny.code, 0, deny.stderr);
  const r = await run;
  assertYesAllowedNoDenied(r, server);
  // Both answers are in the audit log, with who gave them.
  const answers = t.auditRecords().filter((a) => a.cordon['kind'] === 'approval.answer');
  assert.ok(answers.length >= 2, JSON.stringify(answers.map((a) => a.cordon)));
});

test('policy answers without a prompt: a pre-approved host gets through, a neverAllow host gets 403 at once; nothing is queued', async () => {
  const before = JSON.parse((await t.run(['approvals', 'list', '--json'])).stdout) as Pending[];
  setPolicy({
    egress: { mode: 'ask', allowRanges: ['127.0.0.0/8'], resolve: { 'pre.test': '127.0.0.1', 'never.test': '127.0.0.1' } },
    // A minute's timeout: had either been asked, the run would take that long and leave a request behind.
    approvals: { timeoutSeconds: 60, preApproved: [{ kind: 'network', target: `pre.test:${server.port}` }], neverAllow: [{ kind: 'network', target: 'never.test' }] },
  });
  const ws = t.workspace('ws-policy');
  const t0 = Date.now();
  const r = await t.run(['exec', '--workspace', ws, '--', 'sh', '-c', [CURL('pre.test'), CURL('never.test')].join('; ')], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /pre\.test HTTP\/1\.1 200/);
  assert.match(r.stdout, /never\.test HTTP\/1\.1 403/);
  assert.match(r.stdout, /never\.test X-Cordon-Deny: host_not_allowed/);
  assert.ok(Date.now() - t0 < 50_000, `took ${Date.now() - t0} ms: something waited for an answer`);
  assert.ok(server.hits.includes(`pre.test:${server.port}/`), JSON.stringify(server.hits));
  assert.ok(!server.hits.some((h) => h.startsWith('never.test')), 'the neverAllow host was reached');
  const after = JSON.parse((await t.run(['approvals', 'list', '--json'])).stdout) as Pending[];
  assert.deepEqual(after.map((p) => p.id), before.map((p) => p.id), 'a request was queued');
  const byPolicy = t.auditRecords().filter((a) => a.cordon['kind'] === 'approval.answer' && a.cordon['by'] === 'policy');
  assert.deepEqual(
    byPolicy.map((a) => [a.cordon['target'], a.cordon['decision']]),
    [[`pre.test:${server.port}`, 'allow'], [`never.test:${server.port}`, 'deny']],
  );
});

test('no answer in time is a refusal; the request stays listed as expired', async () => {
  setPolicy({ egress: { mode: 'ask', allowRanges: ['127.0.0.0/8'], resolve: { 'late.test': '127.0.0.1' } }, approvals: { timeoutSeconds: 5 } });
  const ws = t.workspace('ws-late');
  const t0 = Date.now();
  const r = await t.run(['exec', '--workspace', ws, '--', 'sh', '-c', CURL('late.test')], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /late\.test HTTP\/1\.1 403/);
  assert.ok(Date.now() - t0 >= 5000, 'refused before the timeout');
  const list = JSON.parse((await t.run(['approvals', 'list', '--json'])).stdout) as Pending[];
  assert.ok(list.some((p) => p.target === `late.test:${server.port}` && p.status === 'expired'), JSON.stringify(list));
  assert.ok(!server.hits.some((h) => h.startsWith('late.test')));
});

test('"always" writes the host to the user\'s egress.allow; with egress.allow locked by managed policy it is refused', async () => {
  setPolicy({ egress: { mode: 'ask', allowRanges: ['127.0.0.0/8'], resolve: { 'keep.test': '127.0.0.1', 'locked.test': '127.0.0.1' } }, approvals: { timeoutSeconds: 60 } });
  const ws = t.workspace('ws-always');
  const run = collect(t.spawn(['exec', '--workspace', ws, '--', 'sh', '-c', CURL('keep.test')]), undefined, 150_000);
  const keep = await pendingFor(`keep.test:${server.port}`);
  const always = await t.run(['approvals', 'allow', keep.id, '--always']);
  assert.equal(always.code, 0, always.stderr);
  assert.match((await run).stdout, /keep\.test HTTP\/1\.1 200/);
  const user = JSON.parse(readFileSync(join(t.cordonHome, 'policy.json'), 'utf8')) as { egress: { allow?: string[] } };
  assert.deepEqual(user.egress.allow, [`keep.test:${server.port}`]);

  const lock = join(t.policyDir, 'managed', 'lock.json');
  writeFileSync(lock, JSON.stringify({ egress: { allow: [] } }));
  try {
    const run2 = collect(t.spawn(['exec', '--workspace', ws, '--', 'sh', '-c', CURL('locked.test')]), undefined, 150_000);
    const locked = await pendingFor(`locked.test:${server.port}`);
    const refused = await t.run(['approvals', 'allow', locked.id, '--always']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /egress\.allow is locked by mandatory managed policy/);
    // Still pending: a once answers it.
    const once = await t.run(['approvals', 'allow', locked.id]);
    assert.equal(once.code, 0, once.stderr);
    assert.match((await run2).stdout, /locked\.test HTTP\/1\.1 200/);
  } finally {
    rmSync(lock, { force: true });
  }
});
