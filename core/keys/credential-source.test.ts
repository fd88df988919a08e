import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from './clock.js';
import { CommandCredentialSource, KeyStoreCredentialSource, parseCredentialOutput, type CredentialResult } from './credential-source.js';
import { MemoryKeyStore } from './key-store.js';

// Real child processes: small node scripts in a temp dir, run with this node.
let dir = '';
const TOKEN = 'short-lived-token-ABCDEF0123456789abcdef0123456789';

void before(() => {
  dir = mkdtempSync(join(tmpdir(), 'cordon-credcmd-'));
  // Prints a token that expires `argv[2]` ms after the time given in argv[3], and
  // counts its invocations in a file so tests can see when it was re-run.
  writeFileSync(
    join(dir, 'ok.mjs'),
    `import { appendFileSync } from 'node:fs';
     const [, , lifetime, nowMs, counter, suffix = ''] = process.argv;
     appendFileSync(counter, 'x');
     const expiresAt = new Date(Number(nowMs) + Number(lifetime)).toISOString();
     process.stdout.write(JSON.stringify({ token: ${JSON.stringify(TOKEN)} + suffix, expiresAt }));`,
  );
  writeFileSync(join(dir, 'fail.mjs'), `process.stderr.write('profile "dev" not found\\n'); process.exit(3);`);
  writeFileSync(join(dir, 'fail-leaky.mjs'), `process.stderr.write('bad token ${TOKEN}\\n'); process.exit(1);`);
  writeFileSync(join(dir, 'hang.mjs'), `setInterval(() => {}, 1000);`);
  writeFileSync(join(dir, 'garbage.mjs'), `process.stdout.write('token=${TOKEN}');`);
  writeFileSync(join(dir, 'no-expiry.mjs'), `process.stdout.write(JSON.stringify({ token: ${JSON.stringify(TOKEN)} }));`);
  writeFileSync(join(dir, 'flood.mjs'), `const s = 'a'.repeat(1 << 20); process.stdout.write(s);`);
});

void after(() => {
  rmSync(dir, { recursive: true, force: true });
});

function counterFile(name: string): string {
  const path = join(dir, `${name}.count`);
  writeFileSync(path, '');
  return path;
}

/** How many times the ok.mjs script ran with this counter file. */
function runs(path: string): number {
  return readFileSync(path, 'utf8').length;
}

function assertFailure(result: CredentialResult, reason: string): string {
  assert.equal(result.ok, false);
  assert.ok(!result.ok);
  assert.equal(result.reason, reason);
  assert.ok(!result.message.includes(TOKEN), `message leaks the token: ${result.message}`);
  return result.message;
}

void test('command success: token kept in memory and reused until shortly before expiry, then refreshed', async () => {
  const clock = new ManualClock();
  const counter = counterFile('success');
  const source = new CommandCredentialSource({
    provider: 'anthropic',
    argv: [process.execPath, join(dir, 'ok.mjs'), String(15 * 60_000), String(clock.now()), counter],
    clock,
    refreshBeforeMs: 60_000,
  });
  const first = await source.get();
  assert.deepEqual(first, { ok: true, secret: TOKEN, expiresAt: clock.now() + 15 * 60_000 });
  clock.advance(13 * 60_000);
  assert.equal((await source.get()).ok, true);
  assert.equal(runs(counter), 1, 'reused within the window');
  clock.advance(60_000 + 1);
  // 14 min in: inside the 60 s refresh lead, so the command runs again.
  await source.get();
  assert.equal(runs(counter), 2);
});

void test('concurrent requests during a refresh share one child process', async () => {
  const clock = new ManualClock();
  const counter = counterFile('concurrent');
  const source = new CommandCredentialSource({
    provider: 'anthropic',
    argv: [process.execPath, join(dir, 'ok.mjs'), String(3_600_000), String(clock.now()), counter],
    clock,
  });
  const results = await Promise.all([source.get(), source.get(), source.get()]);
  assert.ok(results.every((r) => r.ok));
  assert.equal(runs(counter), 1);
});

void test('command exiting non-zero: clear error with its stderr, no token', async () => {
  const source = new CommandCredentialSource({ provider: 'anthropic', argv: [process.execPath, join(dir, 'fail.mjs')], clock: new ManualClock() });
  const message = assertFailure(await source.get(), 'command_failed');
  assert.match(message, /credential command for anthropic \(.*\) exited with status 3: profile "dev" not found/);
});

void test('a failing command that echoes a token on stderr does not leak it into the error', async () => {
  const source = new CommandCredentialSource({ provider: 'anthropic', argv: [process.execPath, join(dir, 'fail-leaky.mjs')], clock: new ManualClock() });
  assert.match(assertFailure(await source.get(), 'command_failed'), /\[redacted\]/);
});

void test('command not found: failed_to_start with a hint', async () => {
  const source = new CommandCredentialSource({ provider: 'anthropic', argv: [join(dir, 'does-not-exist')], clock: new ManualClock() });
  assert.match(assertFailure(await source.get(), 'command_failed_to_start'), /was not found/);
});

void test('hanging command is killed at the timeout', async () => {
  const source = new CommandCredentialSource({
    provider: 'anthropic',
    argv: [process.execPath, join(dir, 'hang.mjs')],
    clock: new ManualClock(),
    timeoutMs: 300,
  });
  const started = Date.now();
  const message = assertFailure(await source.get(), 'command_timeout');
  assert.ok(Date.now() - started < 5_000);
  assert.match(message, /did not finish within 300 ms/);
});

void test('garbage, missing expiry and floods are bad output, described without quoting it', async () => {
  const clock = new ManualClock();
  for (const script of ['garbage.mjs', 'no-expiry.mjs', 'flood.mjs']) {
    const source = new CommandCredentialSource({ provider: 'anthropic', argv: [process.execPath, join(dir, script)], clock });
    assertFailure(await source.get(), 'command_bad_output');
  }
});

void test('a failed refresh during a session fails closed, then recovers when the command works again', async () => {
  const clock = new ManualClock();
  const counter = counterFile('failclosed');
  const lifetime = 10 * 60_000;
  // The script path is swapped by pointing argv at a file we rewrite between calls.
  const script = join(dir, 'switchable.mjs');
  writeFileSync(script, readFileSync(join(dir, 'ok.mjs'), 'utf8'));
  const source = new CommandCredentialSource({
    provider: 'anthropic',
    argv: [process.execPath, script, String(lifetime), String(clock.now()), counter],
    clock,
    refreshBeforeMs: 60_000,
  });
  assert.equal((await source.get()).ok, true);
  writeFileSync(script, `process.exit(1);`);
  clock.advance(lifetime - 30_000);
  // The old token still has 30 s left, but the refresh failed: fail closed.
  assertFailure(await source.get(), 'command_failed');
  assertFailure(await source.get(), 'command_failed');
  writeFileSync(script, readFileSync(join(dir, 'ok.mjs'), 'utf8'));
  const recovered = await new CommandCredentialSource({
    provider: 'anthropic',
    argv: [process.execPath, script, String(lifetime), String(clock.now()), counter],
    clock,
  }).get();
  assert.equal(recovered.ok, true);
});

void test('parseCredentialOutput checks every field and never quotes the output', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  const ok = parseCredentialOutput(JSON.stringify({ token: TOKEN, expiresAt: '2026-01-01T01:00:00Z' }), now);
  assert.deepEqual(ok, { ok: true, token: TOKEN, expiresAt: Date.parse('2026-01-01T01:00:00Z') });
  const bad: [string, RegExp][] = [
    ['not json', /valid JSON/],
    ['[1]', /not an object/],
    [JSON.stringify({ token: 42, expiresAt: '2026-01-01T01:00:00Z' }), /"token"/],
    [JSON.stringify({ token: '', expiresAt: '2026-01-01T01:00:00Z' }), /empty/],
    [JSON.stringify({ token: 'a\r\nX-Evil: 1', expiresAt: '2026-01-01T01:00:00Z' }), /whitespace/],
    [JSON.stringify({ token: TOKEN, expiresAt: '2026-01-01T01:00:00' }), /timezone/],
    [JSON.stringify({ token: TOKEN, expiresAt: 'tomorrow' }), /ISO 8601/],
    [JSON.stringify({ token: TOKEN, expiresAt: '2026-13-45T99:00:00Z' }), /not a real date-time/],
    [JSON.stringify({ token: TOKEN, expiresAt: '2025-12-31T23:00:00Z' }), /already expired/],
  ];
  for (const [output, why] of bad) {
    const result = parseCredentialOutput(output, now);
    assert.equal(result.ok, false, output);
    assert.ok(!result.ok && why.test(result.detail), `${output}: ${!result.ok ? result.detail : ''}`);
    assert.ok(!result.ok && !result.detail.includes(TOKEN));
  }
});

void test('KeyStoreCredentialSource caches successes briefly and never caches failures', async () => {
  const clock = new ManualClock();
  const store = new MemoryKeyStore(clock);
  const source = new KeyStoreCredentialSource({ store, provider: 'anthropic', clock, cacheMs: 2_000 });
  assert.deepEqual(await source.get(), {
    ok: false,
    reason: 'not_found',
    message: 'no API key for anthropic: run `cordon keys set anthropic`',
  });
  await store.set('anthropic', 'key-one-0123456789');
  assert.equal((await source.get()).ok, true, 'failure was not cached');
  await store.set('anthropic', 'key-two-0123456789');
  const cached = await source.get();
  assert.ok(cached.ok && cached.secret === 'key-one-0123456789');
  clock.advance(2_001);
  const fresh = await source.get();
  assert.ok(fresh.ok && fresh.secret === 'key-two-0123456789');
});

void test('after a failure the command is not re-run for retryAfterMs, then is tried again', async () => {
  const clock = new ManualClock();
  const counter = counterFile('retry');
  const script = join(dir, 'count-fail.mjs');
  writeFileSync(script, `import { appendFileSync } from 'node:fs'; appendFileSync(process.argv[2], 'x'); process.exit(1);`);
  const source = new CommandCredentialSource({ provider: 'anthropic', argv: [process.execPath, script, counter], clock, retryAfterMs: 1_000 });
  assertFailure(await source.get(), 'command_failed');
  assertFailure(await source.get(), 'command_failed');
  assert.equal(runs(counter), 1);
  clock.advance(1_001);
  assertFailure(await source.get(), 'command_failed');
  assert.equal(runs(counter), 2);
});
