import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { MemoryAuditSink } from '../audit/audit-event.js';
import { DEFAULT_POLICY, type EffectivePolicy, type GateMode } from '../policy/policy-schema.js';
import { createPasteGate, type PasteGateOptions } from './paste-gate.js';

const KEY = 'AKIAQ3EGRTWXZ7PLKM4N';
const P = (s: string): string => `\x1b[200~${s}\x1b[201~`;

function withMode(mode: GateMode, maxBytes = DEFAULT_POLICY.gates.clipboard.maxBytes): EffectivePolicy {
  return { ...DEFAULT_POLICY, gates: { ...DEFAULT_POLICY.gates, clipboard: { ...DEFAULT_POLICY.gates.clipboard, toSandbox: mode, maxBytes } } };
}

/** Writes CHUNKS through a gate, ends it, and returns what the agent read, the notices and the audit. */
async function through(chunks: readonly string[], policy: EffectivePolicy | null, extra: Partial<PasteGateOptions> = {}): Promise<{ agent: string; notices: string[]; audit: MemoryAuditSink }> {
  const audit = new MemoryAuditSink();
  const notices: string[] = [];
  const gate = createPasteGate({ policy: () => policy, sessionId: () => 'abcdef012345', audit, notify: (m) => notices.push(m), holdMs: 5, idleMs: 50, ...extra });
  const got: Buffer[] = [];
  gate.on('data', (b: Buffer) => got.push(b));
  const ended = new Promise((r) => gate.on('end', r));
  for (const c of chunks) {
    gate.write(Buffer.from(c, 'latin1'));
    await new Promise((r) => setTimeout(r, 1));
  }
  gate.end();
  await ended;
  return { agent: Buffer.concat(got).toString('latin1'), notices, audit };
}

test('default policy: a pasted AWS key reaches the agent redacted, in a paste, with typing around it untouched', async () => {
  const r = await through(['ls\r', P(`export AWS_ACCESS_KEY_ID=${KEY}\n`), 'q'], DEFAULT_POLICY);
  assert.equal(r.agent, `ls\r${P('export AWS_ACCESS_KEY_ID=[REDACTED:aws_access_key_id]\n')}q`);
  assert.equal(r.notices.length, 1);
  assert.match(r.notices[0] ?? '', /paste redacted: aws_access_key_id/);
  const rec = r.audit.events.find((e) => e.kind === 'gate.redact');
  assert.ok(rec, 'the transfer is audited');
  assert.equal(rec.details?.['channel'], 'paste');
  assert.equal(rec.details?.['direction'], 'toSandbox');
  assert.equal(rec.details?.['size'], Buffer.byteLength(`export AWS_ACCESS_KEY_ID=${KEY}\n`));
  assert.match(String(rec.details?.['sha256']), /^[0-9a-f]{64}$/);
  assert.deepEqual(rec.details?.['findings'], [{ detector: 'aws_access_key_id', category: 'secret', count: 1, action: 'tokenize' }]);
  assert.ok(!JSON.stringify(r.audit.events).includes(KEY) && !r.notices.join('').includes(KEY), 'the key is in no record and no notice');
});

test('a clean paste passes unchanged and is audited as allowed; a split paste is still judged whole', async () => {
  const r = await through(['a\x1b[20', '0~hello ', 'world\x1b[2', '01~b'], DEFAULT_POLICY);
  assert.equal(r.agent, `a${P('hello world')}b`);
  assert.deepEqual(r.notices, []);
  assert.equal(r.audit.events[0]?.kind, 'gate.allow');
  const split = await through(['\x1b[200~AKIAQ3EG', 'RTWXZ7PLKM4N\x1b[201~'], DEFAULT_POLICY);
  assert.ok(!split.agent.includes(KEY), 'a key split across reads is still found');
});

test('deny, an invalid policy, and a block finding deliver nothing of the paste, and say so on the user side only', async () => {
  for (const [policy, reason] of [[withMode('deny'), 'policy_deny'], [null, 'policy_deny'], [DEFAULT_POLICY, 'dlp_block']] as const) {
    const content = reason === 'dlp_block' ? '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZWQyNTUxOQAAACA=\n-----END OPENSSH PRIVATE KEY-----\n' : 'text';
    const r = await through(['x', P(content), 'y'], policy);
    assert.equal(r.agent, 'xy', String(reason));
    assert.equal(r.notices.length, 1);
    assert.match(r.notices[0] ?? '', /paste refused/);
    assert.equal(r.audit.events[0]?.kind, 'gate.deny');
    assert.equal(r.audit.events[0]?.details?.['reason'], reason);
  }
});

test('ask: the paste and the typing after it wait for the answer, then follow it', async () => {
  let asked = 0;
  const yes = await through(['a', P('hello'), 'b'], withMode('ask'), { ask: async () => { asked++; await new Promise((r) => setTimeout(r, 30)); return true; } });
  assert.equal(yes.agent, `a${P('hello')}b`, 'order kept: b arrives after the approved paste');
  assert.equal(asked, 1);
  assert.equal(yes.audit.events[0]?.details?.['reason'], 'approved');
  const no = await through(['a', P('hello'), 'b'], withMode('ask'), { ask: () => Promise.resolve(false) });
  assert.equal(no.agent, 'ab');
  assert.equal(no.audit.events[0]?.details?.['reason'], 'not_approved');
  const none = await through([P('hello')], withMode('ask'));
  assert.equal(none.agent, '', 'no way to ask is a refusal');
});

test('bounds: an oversized paste is refused whole; an unterminated one ends after the idle time and typing resumes', async () => {
  const big = await through([`\x1b[200~${'A'.repeat(40)}`, `${'B'.repeat(40)}\x1b[201~ok`], withMode('allow', 64));
  assert.equal(big.agent, 'ok');
  assert.match(big.notices[0] ?? '', /over the limit/);
  assert.equal(big.audit.events[0]?.details?.['reason'], 'too_large');
  assert.equal(big.audit.events[0]?.details?.['size'], 80);
  assert.equal(big.audit.events[0]?.details?.['sha256'], createHash('sha256').update('A'.repeat(40) + 'B'.repeat(40)).digest('hex'), 'every transfer has its hash, refused ones too');
  const audit = new MemoryAuditSink();
  const notices: string[] = [];
  const gate = createPasteGate({ policy: () => DEFAULT_POLICY, sessionId: () => null, audit, notify: (m) => notices.push(m), idleMs: 30 });
  const got: Buffer[] = [];
  gate.on('data', (b: Buffer) => got.push(b));
  gate.write('\x1b[200~never ends');
  await new Promise((r) => setTimeout(r, 80));
  gate.write('typed');
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(Buffer.concat(got).toString(), 'typed');
  assert.match(notices[0] ?? '', /never ended/);
  gate.destroy();
});

test('a lone Escape reaches the agent at once, not after a timer', async () => {
  const gate = createPasteGate({ policy: () => DEFAULT_POLICY, sessionId: () => null, audit: new MemoryAuditSink(), notify: () => undefined, holdMs: 10_000 });
  const got: Buffer[] = [];
  gate.on('data', (b: Buffer) => got.push(b));
  gate.write('\x1b');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(Buffer.concat(got).toString('latin1'), '\x1b');
  gate.destroy();
});
