import assert from 'node:assert/strict';
import { test } from 'node:test';
import { printable, TranscriptPrinter } from './chat-command.js';

const ESC = '\u001b';

test('the agent cannot drive the terminal: escape sequences are shown, not sent', () => {
  // OSC 52 would write the host clipboard; CSI 2J clears the screen; BEL, C1 CSI.
  const hostile = `fine${ESC}]52;c;c2VjcmV0${String.fromCharCode(7)} ${ESC}[2J\u009b31m\r\nnext\tcol`;
  const out = printable(hostile);
  assert.ok(!out.includes(ESC) && !out.includes('\u0007') && !out.includes('\u009b') && !out.includes('\r'), JSON.stringify(out));
  assert.match(out, /fine\^\[\]52;c;c2VjcmV0\^G \^\[\[2J/);
  assert.ok(out.endsWith('\nnext\tcol'));
});

test('items print once; streamed text and tool results print only what is new', () => {
  let out = '';
  const p = new TranscriptPrinter((s) => (out += s), true);
  p.item({ kind: 'user', id: 'c1', at: 0, text: 'hi' });
  p.item({ kind: 'assistant', id: 'c2', at: 0, text: 'Hel' });
  p.item({ kind: 'assistant', id: 'c2', at: 0, text: 'Hello\n' });
  const tool = { name: 'Bash', summary: `ls ${ESC}[2J`, input: '{}', output: null, isError: false, edit: null };
  p.item({ kind: 'tool', id: 'c3', at: 0, tool });
  p.item({ kind: 'tool', id: 'c3', at: 0, tool: { ...tool, output: Array.from({ length: 20 }, (_, i) => `line ${i}`).join('\n') } });
  p.item({ kind: 'tool', id: 'c3', at: 0, tool: { ...tool, output: 'again' } });
  p.item({ kind: 'notice', id: 'c4', at: 0, level: 'warn', text: 'careful' });
  assert.equal((out.match(/Hel/g) ?? []).length, 1, out);
  assert.ok(out.includes('you> hi\n'));
  assert.ok(out.includes('Hello\n'));
  assert.equal((out.match(/⚙ Bash/g) ?? []).length, 1);
  assert.ok(out.includes('ls ^[[2J'));
  assert.ok(out.includes('… 8 more lines'));
  assert.ok(!out.includes('again'));
  assert.ok(out.includes('[cordon warn] careful'));
});
