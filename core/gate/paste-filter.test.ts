import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { PASTE_START, PasteFilter, type PasteEvent } from './paste-filter.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const paste = (s: string): string => `\x1b[200~${s}\x1b[201~`;

/** Feeds CHUNKS, then times out whatever is left; returns every event. */
function run(chunks: readonly Buffer[], max = 1024): PasteEvent[] {
  const f = new PasteFilter(max);
  const out: PasteEvent[] = [];
  for (const c of chunks) out.push(...f.push(c));
  out.push(...f.timeout());
  return out;
}
/** What the agent would read: typing as is, each paste as its markers around <content>. */
function agentView(events: readonly PasteEvent[]): string {
  return events
    .map((e) => (e.type === 'input' ? e.bytes.toString('latin1') : e.type === 'paste' ? `${'\x1b[200~'.slice(e.leadSent)}<${e.bytes.toString('latin1')}>\x1b[201~` : `<refused:${e.reason}>`))
    .join('');
}
/** Events with adjacent inputs joined, as strings, for comparison. */
function norm(events: readonly PasteEvent[]): string[] {
  const out: string[] = [];
  for (const e of events) {
    const s = e.type === 'input' ? `I:${e.bytes.toString('latin1')}` : e.type === 'paste' ? `P:${e.bytes.toString('latin1')}` : `R:${e.reason}`;
    const last = out.at(-1);
    if (e.type === 'input' && last?.startsWith('I:')) out[out.length - 1] = last + s.slice(2);
    else out.push(s);
  }
  return out;
}
function splitAt(s: string, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (s.length + 1)))].sort((x, y) => x - y);
  const parts: Buffer[] = [];
  let prev = 0;
  for (const p of [...points, s.length]) {
    if (p > prev) parts.push(b(s.slice(prev, p)));
    prev = p;
  }
  return parts;
}

test('typing passes at once and unchanged, including arrows, Insert and a lone Escape', () => {
  const f = new PasteFilter(100);
  for (const key of ['a', 'hello\r', '\x1b[A', '\x1b[2~', '\x1bOA', '\x03', '\x1b']) {
    assert.deepEqual(norm(f.push(b(key))), [`I:${key}`], JSON.stringify(key));
  }
  // The lone ESC went through, and is remembered only to recognise a marker it may begin.
  assert.equal(f.waiting, 'hold');
  assert.deepEqual(f.timeout(), [], 'nothing is sent twice');
  assert.deepEqual(norm(f.push(b('x'))), ['I:x']);
});

test('a paste in one read is cut out between its markers, with typing around it kept in order', () => {
  assert.deepEqual(norm(run([b(`ab${paste('SECRET')}cd`)])), ['I:ab', 'P:SECRET', 'I:cd']);
  assert.deepEqual(norm(run([b(`${paste('one')}${paste('two')}`)])), ['P:one', 'P:two']);
  assert.deepEqual(norm(run([b(paste(''))])), ['P:']);
  // A start marker inside a paste is content.
  assert.deepEqual(norm(run([b(paste('x\x1b[200~y'))])), ['P:x\x1b[200~y']);
});

test('a paste split at every possible point reaches the agent the same way', () => {
  const s = `ab${paste('AKIA-in-the-middle')}c\x1b[Bd`;
  const expected = `ab\x1b[200~<AKIA-in-the-middle>\x1b[201~c\x1b[Bd`;
  assert.equal(agentView(run([b(s)])), expected);
  for (let i = 1; i < s.length; i++) {
    for (let j = i + 1; j <= s.length; j++) {
      const events = run(splitAt(s, [i, j]));
      assert.equal(agentView(events), expected, `split at ${i},${j}`);
      assert.deepEqual(events.filter((e) => e.type === 'paste').length, 1, `split at ${i},${j}`);
    }
  }
  assert.equal(agentView(run([...s].map((c) => b(c)))), expected, 'byte by byte, a lone ESC included');
});

test('property: any input, any chunking: the agent reads the typing unchanged and every paste whole', () => {
  const piece = fc.oneof(
    fc.string({ maxLength: 8 }).map((s) => ({ typed: s.replaceAll('\x1b', ''), pasted: null as string | null })),
    fc.string({ maxLength: 20 }).map((s) => ({ typed: '', pasted: s.replaceAll('\x1b', '') })),
    fc.constantFrom('\x1b[A', '\x1b[2~', '\x1b[20', '\x1b[', '\x1b', '\x1b[201~').map((k) => ({ typed: k, pasted: null })),
  );
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 12 }), fc.array(fc.nat(400), { maxLength: 8 }), (pieces, cuts) => {
      const s = pieces.map((p) => (p.pasted !== null ? paste(p.pasted) : p.typed)).join('');
      // Typed "\x1b[20" right before "0~" would make a marker by accident; such inputs are not what this checks.
      if (s.split('\x1b[200~').length - 1 !== pieces.filter((p) => p.pasted !== null).length) return;
      const expected = pieces.map((p) => (p.pasted !== null ? `\x1b[200~<${p.pasted}>\x1b[201~` : p.typed)).join('');
      assert.equal(agentView(run(splitAt(s, cuts))), expected);
    }),
    { numRuns: 500 },
  );
});

test('a possible marker prefix at the end of a read is held, and released by the next read or the timer', () => {
  const f = new PasteFilter(100);
  assert.deepEqual(norm(f.push(b('ab\x1b[2'))), ['I:ab']);
  assert.equal(f.waiting, 'hold');
  assert.deepEqual(norm(f.push(b('~'))), ['I:\x1b[2~'], 'not a marker: Insert key, released whole');
  assert.deepEqual(norm(f.push(b('x\x1b['))), ['I:x']);
  assert.deepEqual(norm(f.timeout()), ['I:\x1b['], 'the timer releases it unchanged');
  assert.equal(f.waiting, 'none');
});

test('a paste over the bound is refused, its rest discarded up to the end marker, then typing resumes', () => {
  const f = new PasteFilter(10);
  const events = [...f.push(b('\x1b[200~0123456789')), ...f.push(b('ABCDEF')), ...f.push(b('more')), ...f.push(b('\x1b[201~ok'))];
  assert.deepEqual(norm(events), ['R:too_large', 'I:ok']);
  assert.ok(!norm(events).join('').includes('ABCDEF'), 'no part of the refused paste is delivered');
  // Exactly the bound is fine, even with the end marker split off.
  assert.deepEqual(norm(run([b('\x1b[200~0123456789\x1b[20'), b('1~')], 10)), ['P:0123456789']);
});

test('an unterminated paste ends at the idle timeout as incomplete; typing after it passes', () => {
  const f = new PasteFilter(100);
  assert.deepEqual(f.push(b('\x1b[200~half a paste')), []);
  assert.equal(f.waiting, 'idle');
  assert.deepEqual(norm(f.timeout()), ['R:incomplete']);
  assert.deepEqual(norm(f.push(b('typed'))), ['I:typed']);
  // A discard that never sees its end marker ends the same way, reporting all it saw.
  const g = new PasteFilter(2);
  assert.deepEqual(g.push(b('\x1b[200~toolong')), []);
  assert.equal(g.waiting, 'idle');
  const [refused] = g.timeout();
  assert.equal(refused?.type === 'paste_refused' && `${refused.reason} ${refused.size} ${refused.sha256}`, `too_large 7 ${createHash('sha256').update('toolong').digest('hex')}`);
  assert.deepEqual(norm(g.push(b('x'))), ['I:x']);
});

test('a 20 MB paste in 64 KB reads is refused whole, hashed whole, and typing after it passes', () => {
  const f = new PasteFilter(1024 * 1024);
  const chunk = Buffer.alloc(64 * 1024, 0x41);
  const events = [...f.push(Buffer.concat([PASTE_START, chunk]))];
  for (let i = 0; i < 160; i++) events.push(...f.push(chunk));
  assert.equal(events.length, 0, 'refused when it ends; nothing delivered meanwhile');
  for (let i = 0; i < 160; i++) events.push(...f.push(chunk));
  events.push(...f.push(Buffer.concat([b('AA\x1b[20'), b('1~z')])));
  assert.deepEqual(norm(events), ['R:too_large', 'I:z']);
  const r = events[0];
  const whole = createHash('sha256');
  for (let i = 0; i < 321; i++) whole.update(chunk);
  assert.equal(r?.type === 'paste_refused' && r.size, 321 * chunk.length + 2);
  assert.equal(r?.type === 'paste_refused' && r.sha256, whole.update('AA').digest('hex'), 'the hash covers the whole paste, not its markers');
});
