/**
 * `cordon launch` the way a person uses it (issue 12, item 1): a
 * pseudo-terminal (util-linux `script`) drives the real command, which starts
 * the real Claude Code in a real sandbox; the test answers Claude Code's own
 * folder-trust question, types a question and must see the vendor's answer on
 * the screen. The vendor is a loopback fake Messages API over HTTPS; the
 * policy is the built-in default plus the test vendor's provider settings
 * (and the loopback range the model route must be allowed to dial), and the
 * real key comes from the real Secret Service.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { makeTestCerts, type TestCerts } from '../core/egress/test-certs.js';
import { startFakeVendor, type FakeVendor } from './fake-vendor.js';
import { CORDON_BIN, cordonContainers, eventually, TestEnv } from './test-harness.js';

const t = new TestEnv('launch-agent');
const REAL_KEY = `sk-ant-api03-REAL-${randomBytes(24).toString('hex')}`;
// No spaces: a terminal UI may draw a space as a cursor movement.
const REPLY = `interactive-answer-${randomBytes(6).toString('hex')}`;
let certs: TestCerts;
let vendor: FakeVendor;

before(async () => {
  assert.ok(process.env['DBUS_SESSION_BUS_ADDRESS'], 'run through scripts/run-tests.mjs (it starts a throwaway Secret Service)');
  certs = makeTestCerts();
  vendor = await startFakeVendor({ key: certs.keyPem, cert: certs.certPem, replyText: REPLY });
  writeFileSync(
    join(t.cordonHome, 'policy.json'),
    JSON.stringify({
      providers: { anthropic: { baseUrl: `https://127.0.0.1:${vendor.port}`, caFile: certs.caFile } },
      // The model route checks the vendor's address like any other: loopback must be named to be dialled.
      egress: { allowRanges: ['127.0.0.1/32'] },
    }),
  );
  const set = await t.run(['keys', 'set', 'anthropic'], { input: `${REAL_KEY}\n` });
  assert.equal(set.code, 0, set.stderr);
});
after(async () => {
  await vendor.close();
  certs.cleanup();
  t.cleanup();
});

const ESC = String.fromCharCode(0x1b);
const BEL = String.fromCharCode(0x07);
/** Terminal escape sequences: CSI, OSC (ended by BEL or ST), and two-byte ones. */
const ESCAPES = new RegExp(`${ESC}\\[[0-9;?<>=]*[ -/]*[@-~]|${ESC}\\][^${BEL}${ESC}]*(?:${BEL}|${ESC}\\\\)|${ESC}[0-~]`, 'g');

/** What a person would read: escape sequences and every kind of blank removed. */
function screenText(raw: string): string {
  return raw.replace(ESCAPES, '').replace(/\s+/g, '');
}

test('cordon launch starts Claude Code straight into a prompt that answers through the model route', async () => {
  const ws = t.workspace('ws-interactive');
  const cmd = `stty rows 40 cols 120; exec ${JSON.stringify(CORDON_BIN)} launch --workspace ${ws}`;
  const child = spawn('script', ['-qec', cmd, '/dev/null'], { env: { ...t.env, TERM: 'xterm-256color' }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const seen = (text: string, timeoutMs: number): Promise<boolean> => eventually(() => screenText(out).includes(text.replace(/\s+/g, '')), timeoutMs);
  try {
    // Claude Code's own question about the folder may stay (issue 12); the
    // first-run screens (connectivity check, key approval) must not appear.
    assert.ok(await seen('I trust this folder', 60_000), `no trust prompt:\n${screenText(out).slice(-1500)}`);
    child.stdin.write('\r');
    assert.ok(await seen('for shortcuts', 30_000), `no prompt:\n${screenText(out).slice(-1500)}`);
    child.stdin.write('what is the answer');
    await new Promise((r) => setTimeout(r, 500));
    child.stdin.write('\r');
    assert.ok(await seen(REPLY, 60_000), `the vendor's answer never reached the screen:\n${screenText(out).slice(-2000)}`);
    const text = screenText(out);
    for (const stop of ['Unabletoconnect', 'Notloggedin', '/login', 'missingorbroken', 'DetectedacustomAPIkey']) assert.ok(!text.includes(stop), `screen shows "${stop}"`);
    // The question went to the vendor with the real key; the phantom never did.
    const asked = vendor.requests.filter((r) => r.path.startsWith('/v1/messages') && r.body.includes('what is the answer'));
    assert.ok(asked.length > 0, 'the vendor never saw the question');
    for (const r of asked) assert.equal(r.headers['x-api-key'], REAL_KEY);
    assert.ok(!vendor.requests.some((r) => JSON.stringify(r).includes('cdn_ph_')), 'a phantom reached the vendor');
    child.stdin.write('/exit');
    await new Promise((r) => setTimeout(r, 300));
    child.stdin.write('\r');
    assert.equal(await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 30_000))]), 0, screenText(out).slice(-800));
  } finally {
    child.kill('SIGKILL');
  }
  const started = t.auditRecords().find((e) => e.cordon['kind'] === 'session.start');
  const sid = started?.cordon['session_id'];
  const sessionId = typeof sid === 'string' ? sid : '';
  assert.notEqual(sessionId, '', 'the session start was audited');
  assert.ok(await eventually(async () => (await cordonContainers(sessionId)).length === 0, 10_000), 'the container outlived the session');
  assert.ok(!JSON.stringify(t.auditRecords()).includes(REAL_KEY), 'the real key reached the audit log');
});
