/**
 * Issue 18 through the real entry point and a real sandbox: `cordon drop`
 * and `cordon take` against a running session, and a bracketed paste into
 * `cordon launch` under a real pseudo-terminal (util-linux `script`). The
 * agent side is checked inside the sandbox (hashes, bytes received), and the
 * audit log is searched for every transferred secret.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { docxFixture } from '../core/testing/zip-writer.js';
import { CORDON_BIN, TestEnv, collect, eventually } from './test-harness.js';

const t = new TestEnv('gate');
after(async () => {
  await t.run(['stop', '--all']);
  t.cleanup();
});

/** An AWS-style access key id (not AWS's published example, which DLP allows on purpose). */
const KEY = 'AKIAQ3EGRTWXZ7PLKM4N';
const SSH_KEY_TEXT = 'b3BlbnNzaC1rZXktdjEAAAAA-fake-host-key-material';
const DOC_TEXT = 'Merger plan, do not share';

writeFileSync(join(t.cordonHome, 'policy.json'), JSON.stringify({ gates: { dragDrop: { blockLabels: ['Confidential'] } } }));

async function sessionFor(ws: string): Promise<string> {
  let id = '';
  const found = await eventually(async () => {
    const r = await t.run(['ps', '--json']);
    const rows = JSON.parse(r.stdout || '[]') as Array<{ session: string; workspaces: Array<{ path: string }> }>;
    id = rows.find((s) => s.workspaces.some((w) => w.path === ws))?.session ?? '';
    return id !== '';
  }, 60_000, 250);
  assert.ok(found, 'the session did not show up in cordon ps');
  return id;
}

test('cordon drop and cordon take through the gate, checked inside a real sandbox', { timeout: 240_000 }, async () => {
  const ws = t.workspace('ws-drop');
  const src = join(t.root, 'src');
  mkdirSync(src);
  mkdirSync(join(t.home, '.ssh'), { recursive: true });
  writeFileSync(join(t.home, '.ssh', 'id_rsa'), `-----BEGIN OPENSSH PRIVATE KEY-----\n${SSH_KEY_TEXT}\n-----END OPENSSH PRIVATE KEY-----\n`);
  symlinkSync(join(t.home, '.ssh', 'id_rsa'), join(src, 'innocent.txt'));
  writeFileSync(join(src, 'plan.docx'), docxFixture([DOC_TEXT], { name: 'Confidential', id: '1a2b3c4d-1111-2222-3333-444455556666' }));
  writeFileSync(join(src, 'env.txt'), `AWS_ACCESS_KEY_ID=${KEY}\nregion=eu-west-1\n`);
  const clean = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7) % 256));
  writeFileSync(join(src, 'clean.bin'), clean);
  writeFileSync(join(src, 'done.txt'), 'go\n');

  // The agent: waits for the drops, reports what it received from inside, leaves files to take, then idles.
  const agent = [
    'while [ ! -e cordon-inbox/done.txt ]; do sleep 0.2; done',
    'sha256sum cordon-inbox/clean.bin',
    'echo "env: $(cat cordon-inbox/env.txt | head -1)"',
    'ls cordon-inbox | sort | tr "\\n" " "; echo',
    `printf 'key ${KEY}\\n' > report.txt`,
    `ln -s ${join(t.home, '.ssh', 'id_rsa')} planted.txt`,
    'echo READY',
    'sleep 120',
  ].join('; ');
  const child = t.spawn(['exec', '--workspace', ws, '--', 'sh', '-c', agent]);
  let seen = '';
  child.stdout?.on('data', (d: Buffer) => (seen += d.toString('utf8')));
  const run = collect(child, undefined, 230_000);
  const id = await sessionFor(ws);

  const ssh = await t.run(['drop', id.slice(0, 6), join(t.home, '.ssh', 'id_rsa'), join(src, 'innocent.txt')]);
  assert.equal(ssh.code, 1, ssh.stderr);
  assert.equal((ssh.stderr.match(/refused \(protected_source\)/g) ?? []).length, 2, ssh.stderr);
  assert.match(ssh.stderr, /SSH keys/);

  const doc = await t.run(['drop', id, join(src, 'plan.docx')]);
  assert.equal(doc.code, 1);
  assert.match(doc.stderr, /refused \(blocked_label\).*Confidential/);

  const good = await t.run(['drop', id, join(src, 'env.txt'), join(src, 'clean.bin'), join(src, 'done.txt')]);
  assert.equal(good.code, 0, good.stderr);
  assert.match(good.stdout, /env\.txt" -> .*cordon-inbox\/env\.txt \(aws_access_key_id redacted\)/);

  // What the sandbox saw, reported from inside.
  assert.ok(await eventually(() => seen.includes('READY'), 60_000, 100), `the agent reported: ${seen}`);
  assert.match(seen, new RegExp(`${createHash('sha256').update(clean).digest('hex')}  cordon-inbox/clean.bin`), 'the allowed file arrived intact');
  assert.match(seen, /env: AWS_ACCESS_KEY_ID=\[REDACTED:aws_access_key_id\]/);
  assert.match(seen, /^clean\.bin done\.txt env\.txt $/m, 'the refused files never arrived');
  assert.ok(!seen.includes(KEY));

  // Take: out through the gate, redacted; a planted link and an existing destination refused.
  const out = join(t.root, 'out');
  mkdirSync(out);
  const taken = await t.run(['take', id, 'report.txt', out]);
  assert.equal(taken.code, 0, taken.stderr);
  assert.equal(readFileSync(join(out, 'report.txt'), 'utf8'), 'key [REDACTED:aws_access_key_id]\n');
  const again = await t.run(['take', id, join(ws, 'report.txt'), out]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /destination_exists/);
  assert.equal((await t.run(['take', id, 'report.txt', out, '--force'])).code, 0);
  const planted = await t.run(['take', id, 'planted.txt', out]);
  assert.equal(planted.code, 1);
  assert.match(planted.stderr, /outside_workspace.*symbolic link/);
  assert.equal(existsSync(join(out, 'planted.txt')), false);
  const escape = await t.run(['take', id, '/etc/passwd', out]);
  assert.equal(escape.code, 1);
  assert.match(escape.stderr, /outside_workspace/);

  // ask: the drop waits in the approval queue and follows the answer given from another process.
  writeFileSync(join(t.cordonHome, 'policy.json'), JSON.stringify({ gates: { dragDrop: { toSandbox: 'ask', blockLabels: ['Confidential'] } } }));
  writeFileSync(join(src, 'asked.txt'), 'please\n');
  const asking = collect(t.spawn(['drop', id, join(src, 'asked.txt')]), undefined, 60_000);
  let requestId = '';
  assert.ok(
    await eventually(async () => {
      const list = JSON.parse((await t.run(['approvals', 'list', '--json'])).stdout || '[]') as Array<{ id: string; kind: string; status: string; target: string }>;
      requestId = list.find((r) => r.kind === 'file-transfer' && r.status === 'pending' && r.target.endsWith('asked.txt'))?.id ?? '';
      return requestId !== '';
    }, 30_000, 200),
    'the drop was filed in the approval queue',
  );
  assert.equal(existsSync(join(ws, 'cordon-inbox', 'asked.txt')), false, 'nothing arrives before the answer');
  assert.equal((await t.run(['approvals', 'allow', requestId])).code, 0);
  const asked = await asking;
  assert.equal(asked.code, 0, asked.stderr);
  assert.equal(readFileSync(join(ws, 'cordon-inbox', 'asked.txt'), 'utf8'), 'please\n');

  assert.equal((await t.run(['stop', id])).code, 0);
  await run;

  const records = t.auditRecords().filter((r) => String(r.cordon['kind']).startsWith('gate.'));
  const kinds = records.map((r) => `${String(r.cordon['kind'])}:${String(r.cordon['reason'])}`);
  for (const k of ['gate.allow:approved', 'gate.deny:protected_source', 'gate.deny:blocked_label', 'gate.redact:findings_redacted', 'gate.allow:clean', 'gate.allow:opaque_allowed', 'gate.deny:destination_exists', 'gate.deny:outside_workspace']) {
    assert.ok(kinds.includes(k), `${k} in ${kinds.join(', ')}`);
  }
  const red = records.find((r) => r.cordon['kind'] === 'gate.redact' && r.cordon['direction'] === 'toSandbox');
  assert.equal(red?.cordon['sha256'], createHash('sha256').update(readFileSync(join(src, 'env.txt'))).digest('hex'));
  assert.deepEqual(red?.cordon['findings'], [{ detector: 'aws_access_key_id', category: 'secret', count: 1, action: 'tokenize' }]);
  const auditText = readFileSync(join(t.cordonHome, 'audit', 'audit.jsonl'), 'utf8');
  for (const secret of [KEY, SSH_KEY_TEXT, DOC_TEXT, 'region=eu-west-1']) assert.ok(!auditText.includes(secret), `the audit log holds no transferred content (${secret.slice(0, 8)}…)`);
  assert.equal((await t.run(['audit', 'verify'])).code, 0);
});

test('a bracketed paste into cordon launch under a pseudo-terminal: the agent gets it redacted, typing byte for byte', { timeout: 180_000 }, async () => {
  const ws = t.workspace('ws-paste');
  // The agent: raw terminal (no echo, no line editing, no signals), then every byte it reads into a file.
  const profile = t.profile('gate-paste', 'standard', { provider: undefined, command: ['sh', '-c', `stty raw -echo && : > ${ws}/ready && exec cat > ${ws}/got`] });
  const child = spawn('script', ['-qec', `${CORDON_BIN} launch --profile ${profile} --workspace ${ws}`, '/dev/null'], { env: { ...t.env, TERM: 'xterm' }, stdio: ['pipe', 'pipe', 'pipe'] });
  let screen = '';
  child.stdout.on('data', (d: Buffer) => (screen += d.toString('utf8')));
  const exited = new Promise<void>((r) => child.on('close', () => r()));
  try {
    assert.ok(await eventually(() => existsSync(join(ws, 'ready')), 90_000, 100), `the agent did not start: ${screen.slice(-400)}`);
    const typedBefore = 'ls -la\x1b[A\x01\x7f';
    const pasted = `export AWS_ACCESS_KEY_ID=${KEY}\nexport REGION=eu-west-1\n`;
    const typedAfter = 'q\x1b\x1bOB:wq\r';
    child.stdin.write(typedBefore);
    await new Promise((r) => setTimeout(r, 200));
    // The paste's start marker split across two writes, as a slow link could deliver it.
    child.stdin.write(`\x1b[20`);
    await new Promise((r) => setTimeout(r, 5));
    child.stdin.write(`0~${pasted}\x1b[201~`);
    await new Promise((r) => setTimeout(r, 200));
    child.stdin.write(typedAfter);
    child.stdin.write('END');
    const got = join(ws, 'got');
    assert.ok(await eventually(() => existsSync(got) && readFileSync(got, 'latin1').endsWith('END'), 30_000, 100), `agent received: ${JSON.stringify(existsSync(got) ? readFileSync(got, 'latin1') : '')}`);
    const expected = `${typedBefore}\x1b[200~export AWS_ACCESS_KEY_ID=[REDACTED:aws_access_key_id]\nexport REGION=eu-west-1\n\x1b[201~${typedAfter}END`;
    assert.equal(readFileSync(got, 'latin1'), expected);
    assert.ok(await eventually(() => /paste redacted: aws_access_key_id/.test(screen), 5_000), 'the user was told, on their side');
  } finally {
    await t.run(['stop', '--all']);
    child.kill('SIGTERM');
    await exited;
  }
  const rec = t.auditRecords().find((r) => r.cordon['kind'] === 'gate.redact' && r.cordon['channel'] === 'paste');
  assert.ok(rec, 'the paste was audited');
  assert.equal(rec.cordon['size'], Buffer.byteLength(`export AWS_ACCESS_KEY_ID=${KEY}\nexport REGION=eu-west-1\n`));
  assert.ok(!readFileSync(join(t.cordonHome, 'audit', 'audit.jsonl'), 'utf8').includes(KEY));
});
