import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { normaliseKeyInput, readKeyFromStream } from './key-input.js';
import { keyStatusJson, keyStatusText } from './key-status-report.js';

const KEY = 'sk-ant-api03-input-0123456789abcdefghij';

void test('piped keys lose one trailing newline and surrounding spaces', async () => {
  assert.deepEqual(await readKeyFromStream(Readable.from([Buffer.from(`${KEY}\n`)])), { ok: true, value: KEY });
  assert.deepEqual(await readKeyFromStream(Readable.from([`  ${KEY}\r\n`])), { ok: true, value: KEY });
  assert.deepEqual(normaliseKeyInput(KEY), { ok: true, value: KEY });
});

void test('empty, multi-line and oversized input is refused without echoing it', async () => {
  const empty = await readKeyFromStream(Readable.from([]));
  assert.ok(!empty.ok && /no key on standard input/.test(empty.error.message));
  const twoLines = await readKeyFromStream(Readable.from([`${KEY}\n${KEY}\n`]));
  assert.ok(!twoLines.ok && !twoLines.error.message.includes(KEY));
  const huge = await readKeyFromStream(Readable.from([Buffer.alloc(20_000, 'a')]));
  assert.ok(!huge.ok && /longer than/.test(huge.error.message));
});

void test('status report: JSON shape and text table, never a value', () => {
  const entries = [
    { ok: true as const, status: { provider: 'anthropic', state: 'present' as const, lastSetAt: '2026-01-01T00:00:00.000Z', rotatedAt: null } },
    { ok: true as const, status: { provider: 'openai', state: 'absent' as const } },
    { ok: false as const, provider: 'mistral', error: { code: 'locked' as const, message: 'the keychain is locked' } },
  ];
  assert.deepEqual(keyStatusJson(entries), {
    providers: [
      { provider: 'anthropic', state: 'present', lastSetAt: '2026-01-01T00:00:00.000Z', rotatedAt: null },
      { provider: 'openai', state: 'absent' },
      { provider: 'mistral', state: 'error', error: { code: 'locked', message: 'the keychain is locked' } },
    ],
  });
  assert.equal(
    keyStatusText(entries),
    'anthropic  present  set 2026-01-01T00:00:00.000Z  rotated never\nopenai     absent\nmistral    error    the keychain is locked\n',
  );
});
