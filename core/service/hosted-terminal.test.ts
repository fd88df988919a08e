import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BACKLOG_CHARS, HostedTerminal } from './hosted-terminal.js';

function write(t: HostedTerminal, b: Buffer): Promise<void> {
  return new Promise((resolve, reject) => t.output.write(b, (err) => (err ? reject(err) : resolve())));
}

test('the backlog is exactly the last BACKLOG_CHARS characters, and a character split across writes arrives whole', async () => {
  const seen: string[] = [];
  const t = new HostedTerminal((s) => seen.push(s));
  let all = '';
  for (let i = 0; i < 700; i++) {
    const line = `line ${i} ${'x'.repeat(400)}\r\n`;
    all += line;
    await write(t, Buffer.from(line));
  }
  assert.equal(t.backlog, all.slice(-BACKLOG_CHARS));
  // "✓" is three bytes in UTF-8; sent in two writes it still arrives as one character.
  const check = Buffer.from('ok ✓');
  await write(t, check.subarray(0, check.length - 1));
  await write(t, check.subarray(check.length - 1));
  all += 'ok ✓';
  assert.equal(seen.join(''), all);
  assert.ok(t.backlog.endsWith('ok ✓'));
  assert.equal(t.backlog, all.slice(-BACKLOG_CHARS));
});
