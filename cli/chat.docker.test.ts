/**
 * `cordon launch --chat` end to end (issue 16): the real command through
 * bin/cordon, a real sandbox, the real Claude Code in stream-json mode against
 * a loopback fake vendor that scripts tool calls; a plain-text agent through
 * the generic adapter; and an "agent" that writes malformed and oversized
 * events, to show they are dropped while the conversation goes on.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { makeTestCerts, type TestCerts } from '../core/egress/test-certs.js';
import { lastToolResult, lastUserText, offersTools, startFakeVendor, type FakeVendor } from './fake-vendor.js';
import { CORDON_BIN, eventually, TestEnv } from './test-harness.js';

const t = new TestEnv('chat-cli');
const REAL_KEY = `sk-ant-api03-REAL-${randomBytes(24).toString('hex')}`;
let certs: TestCerts;
let vendor: FakeVendor;
let ws: string;

before(async () => {
  assert.ok(process.env['DBUS_SESSION_BUS_ADDRESS'], 'run through scripts/run-tests.mjs (it starts a throwaway Secret Service)');
  certs = makeTestCerts();
  ws = t.workspace('ws-chat');
  let answers = 0;
  vendor = await startFakeVendor({
    key: certs.keyPem,
    cert: certs.certPem,
    replyText: 'side-call',
    script: (req) => {
      if (!offersTools(req)) return undefined;
      const result = lastToolResult(req);
      if (result !== null) return { text: `TOOL-DONE ${result.slice(0, 40)}` };
      const said = lastUserText(req);
      if (said.includes('[[bash]]')) return { toolUse: { name: 'Bash', input: { command: 'echo BASH-MARK-$((6*7))', description: 'print a marker' } } };
      if (said.includes('[[write]]')) return { toolUse: { name: 'Write', input: { file_path: join(ws, 'report.md'), content: '# Report\n\nwritten by the agent\n' } } };
      return { text: `ANSWER-${++answers}` };
    },
  });
  writeFileSync(
    join(t.cordonHome, 'policy.json'),
    JSON.stringify({ providers: { anthropic: { baseUrl: `https://127.0.0.1:${vendor.port}`, caFile: certs.caFile } }, egress: { allowRanges: ['127.0.0.1/32'] } }),
  );
  const set = await t.run(['keys', 'set', 'anthropic'], { input: `${REAL_KEY}\n` });
  assert.equal(set.code, 0, set.stderr);
});
after(async () => {
  await vendor.close();
  certs.cleanup();
  t.cleanup();
});

test('Claude Code as a conversation: turns in one session, a command and a file write, then a clean exit', async () => {
  const r = await t.run(['launch', '--chat', '--workspace', ws], { input: 'first question\nplease [[bash]]\nnow [[write]] the report\n', timeoutMs: 180_000 });
  assert.equal(r.code, 0, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  const out = r.stdout;
  assert.match(out, /you> first question\n\nANSWER-1\n/);
  assert.ok(out.includes('⚙ Bash: echo BASH-MARK-$((6*7))'), out);
  assert.ok(out.includes('│ BASH-MARK-42'), 'the command ran in the sandbox and its output is shown');
  assert.ok(out.includes(`⚙ Write: ${join(ws, 'report.md')}`), out);
  assert.equal(readFileSync(join(ws, 'report.md'), 'utf8'), '# Report\n\nwritten by the agent\n');
  assert.ok(out.includes('[cordon] The session ended.'));
  // One session: the vendor saw the first turn again as history in later turns.
  const later = vendor.requests.filter((q) => q.body.includes('[[write]]'));
  assert.ok(later.length > 0 && later.every((q) => q.body.includes('first question') && q.body.includes('BASH-MARK-42')), 'the third turn did not carry the conversation so far');
  // The real key went to the vendor, never to the user's screen.
  assert.ok(vendor.requests.some((q) => q.headers['x-api-key'] === REAL_KEY));
  assert.ok(!out.includes(REAL_KEY) && !r.stderr.includes(REAL_KEY));
  assert.deepEqual(await t.containers(), [], 'the sandbox outlived the conversation');
});

test('a plain-text agent through the generic adapter: one run per turn, its output as the answer', async () => {
  const profile = t.profile('upper', 'standard', { description: 'upper-cases its prompt (tests)', agent: 'generic', command: ['tr', 'a-z', 'A-Z'], provider: undefined });
  const r = await t.run(['launch', '--chat', '--profile', profile, '--workspace', ws], { input: 'hello there\nsecond turn\n', timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /you> hello there\n\nHELLO THERE\n/);
  assert.match(r.stdout, /you> second turn\n\nSECOND TURN\n/);
});

test('malformed and oversized events from the sandbox are dropped with a notice; the answer still arrives', async () => {
  // Stands in for a compromised agent: answers each turn with garbage, a 1.1 MB line, a wrong shape, then a valid answer.
  const script = [
    'while IFS= read -r line; do',
    "  echo '{broken json'",
    "  head -c 1100000 /dev/zero | tr '\\0' x; echo",
    '  echo \'{"type":"assistant","message":{"content":"not blocks"}}\'',
    '  echo \'{"type":"assistant","message":{"content":[{"type":"text","text":"still-fine"}]}}\'',
    '  echo \'{"type":"result","subtype":"success","is_error":false,"usage":{"input_tokens":3,"output_tokens":2}}\'',
    'done',
  ].join('\n');
  const profile = t.profile('hostile', 'standard', { description: 'writes malformed events (tests)', agent: 'claude-code', command: ['sh', '-c', script], provider: undefined });
  const r = await t.run(['launch', '--chat', '--profile', profile, '--workspace', ws], { input: 'hi\nagain\n', timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.equal((r.stdout.match(/still-fine/g) ?? []).length, 2, r.stdout.slice(0, 3000));
  assert.equal((r.stdout.match(/\[cordon warn\] Cordon ignored output/g) ?? []).length, 2, 'one notice per turn');
  assert.ok(!r.stdout.includes('xxxxxxxxxx'), 'the oversized line reached the screen');
});

test('at a terminal: a prompt when the agent is ready, Ctrl-C stops the turn, Ctrl-C at the prompt ends the session', async () => {
  const profile = t.profile('slow-upper', 'standard', { description: 'upper-cases, then takes its time (tests)', agent: 'generic', command: ['sh', '-c', 'tr a-z A-Z; sleep 30; echo never-shown'], provider: undefined });
  const cmd = `stty rows 40 cols 100; exec ${JSON.stringify(CORDON_BIN)} launch --chat --profile ${profile} --workspace ${ws}`;
  const child = spawn('script', ['-qec', cmd, '/dev/null'], { env: { ...t.env, TERM: 'xterm' }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const prompts = (): number => (out.match(/you> /g) ?? []).length;
  try {
    assert.ok(await eventually(() => prompts() === 1, 60_000), `no prompt:\n${out}`);
    child.stdin.write('hello tty\r');
    assert.ok(await eventually(() => out.includes('HELLO TTY'), 20_000), out);
    const t0 = Date.now();
    child.stdin.write('\u0003');
    assert.ok(await eventually(() => out.includes('Stopped. The agent is ready'), 10_000), out);
    assert.ok(Date.now() - t0 < 10_000);
    assert.ok(await eventually(() => prompts() === 2, 10_000), 'no prompt after the interrupt');
    child.stdin.write('\u0003');
    assert.equal(await exited, 0, out);
    assert.ok(!out.includes('never-shown'));
    assert.ok(out.includes('The session ended.'));
  } finally {
    child.kill('SIGKILL');
  }
});
