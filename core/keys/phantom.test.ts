import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ManualClock } from './clock.js';
import {
  PHANTOM_LENGTH,
  PHANTOM_REJECT_MESSAGES,
  PHANTOM_PREFIX,
  PHANTOM_TOKEN_PATTERN,
  PhantomAuthority,
  PhantomStreamScanner,
  isPhantomToken,
  mintPhantomToken,
  phantomFingerprint,
  type PhantomRejectReason,
  type PhantomValidation,
} from './phantom.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const anthropic = { provider: 'anthropic', providerHost: 'api.anthropic.com' } as const;

// The DLP engine's contract: `cdn_ph_` followed by 43+ base64url characters.
const DLP_CONTRACT = /cdn_ph_[A-Za-z0-9_-]{43,}/;

void test('minted phantoms carry the prefix, 256 bits of base64url and match the DLP contract', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const token = mintPhantomToken();
    assert.ok(token.startsWith(PHANTOM_PREFIX));
    assert.match(token, PHANTOM_TOKEN_PATTERN);
    assert.match(token, DLP_CONTRACT);
    assert.equal(Buffer.from(token.slice(PHANTOM_PREFIX.length), 'base64url').length, 32);
    seen.add(token);
  }
  assert.equal(seen.size, 200);
});

void test('mintPhantomToken refuses a short entropy source instead of minting a weak token', () => {
  assert.throws(() => mintPhantomToken(() => Buffer.alloc(16)), /expected 32/);
});

void test('isPhantomToken rejects near misses', () => {
  const token = mintPhantomToken();
  assert.equal(isPhantomToken(token), true);
  assert.equal(isPhantomToken(token.slice(0, -1)), false);
  assert.equal(isPhantomToken(`${token}A`), false);
  assert.equal(isPhantomToken(token.replace('cdn_ph_', 'cdn_px_')), false);
  assert.equal(isPhantomToken(` ${token}`), false);
});

void test('fingerprints are short, stable and do not contain the token', () => {
  const token = mintPhantomToken();
  const fp = phantomFingerprint(token);
  assert.match(fp, /^[0-9a-f]{12}$/);
  assert.equal(fp, phantomFingerprint(token));
  assert.ok(!token.includes(fp));
});

function setup(ttlMs = HOUR) {
  const clock = new ManualClock();
  const authority = new PhantomAuthority({ clock, ttlMs });
  const mine = authority.issue({ sessionId: 's1', ...anthropic });
  const other = authority.issue({ sessionId: 's2', ...anthropic });
  return { clock, authority, mine, other };
}

void test('validation table: each way a phantom can be wrong has its own reason', () => {
  const cases: { name: string; expect: PhantomRejectReason | 'ok'; run: () => ReturnType<PhantomAuthority['validate']> }[] = [
    {
      name: 'valid',
      expect: 'ok',
      run: () => {
        const { authority, mine } = setup();
        return authority.validate(mine.token, { sessionId: 's1', provider: 'anthropic', host: 'api.anthropic.com' });
      },
    },
    {
      name: 'host is compared case-insensitively and ignores a trailing dot',
      expect: 'ok',
      run: () => {
        const { authority, mine } = setup();
        return authority.validate(mine.token, { sessionId: 's1', provider: 'anthropic', host: 'API.Anthropic.com.' });
      },
    },
    {
      name: 'malformed: a real-looking vendor key',
      expect: 'malformed',
      run: () => setup().authority.validate('sk-ant-api03-abcdefghijklmnopqrstuvwxyz', { sessionId: 's1', provider: 'anthropic', host: 'api.anthropic.com' }),
    },
    {
      name: 'malformed: truncated phantom',
      expect: 'malformed',
      run: () => {
        const { authority, mine } = setup();
        return authority.validate(mine.token.slice(0, 30), { sessionId: 's1', provider: 'anthropic', host: 'api.anthropic.com' });
      },
    },
    {
      name: 'malformed: empty',
      expect: 'malformed',
      run: () => setup().authority.validate('', { sessionId: 's1', provider: 'anthropic', host: 'api.anthropic.com' }),
    },
    {
      name: 'unknown: well-formed but never issued',
      expect: 'unknown',
      run: () => setup().authority.validate(mintPhantomToken(), { sessionId: 's1', provider: 'anthropic', host: 'api.anthropic.com' }),
    },
    {
      name: 'unknown: issued by a different authority (another proxy)',
      expect: 'unknown',
      run: () => {
        const elsewhere = setup().mine.token;
        return setup().authority.validate(elsewhere, { sessionId: 's1', provider: 'anthropic', host: 'api.anthropic.com' });
      },
    },
    {
      name: 'foreign session',
      expect: 'foreign_session',
      run: () => {
        const { authority, other } = setup();
        return authority.validate(other.token, { sessionId: 's1', provider: 'anthropic', host: 'api.anthropic.com' });
      },
    },
    {
      name: 'revoked',
      expect: 'revoked',
      run: () => {
        const { authority, mine } = setup();
        assert.equal(authority.revoke('s1'), 1);
        return authority.validate(mine.token, { sessionId: 's1', provider: 'anthropic', host: 'api.anthropic.com' });
      },
    },
    {
      name: 'expired (session no longer alive, so no renewal)',
      expect: 'expired',
      run: () => {
        const clock = new ManualClock();
        const authority = new PhantomAuthority({ clock, ttlMs: HOUR });
        const grant = authority.issue({ sessionId: 's1', ...anthropic }, { isSessionAlive: () => false });
        clock.advance(HOUR);
        return authority.validate(grant.token, { sessionId: 's1', provider: 'anthropic', host: 'api.anthropic.com' });
      },
    },
    {
      name: 'wrong host',
      expect: 'wrong_host',
      run: () => {
        const { authority, mine } = setup();
        return authority.validate(mine.token, { sessionId: 's1', provider: 'anthropic', host: 'evil.example' });
      },
    },
    {
      name: 'wrong provider',
      expect: 'wrong_provider',
      run: () => {
        const { authority, mine } = setup();
        return authority.validate(mine.token, { sessionId: 's1', provider: 'openai', host: 'api.anthropic.com' });
      },
    },
  ];
  for (const c of cases) {
    const result = c.run();
    if (c.expect === 'ok') assert.equal(result.kind, 'allow', c.name);
    else assert.deepEqual(result, refusal(c.expect), c.name);
  }
});

void test('a foreign phantom is reported as foreign even when it is also revoked: the copy across sessions is the finding', () => {
  const { authority, other } = setup();
  authority.revoke('s2');
  assert.deepEqual(authority.validate(other.token, { sessionId: 's1', provider: 'anthropic', host: 'api.anthropic.com' }), refusal('foreign_session'));
});

void test('renewal keeps a live session working for a simulated day with the same token', () => {
  const { clock, authority, mine } = setup();
  const where = { sessionId: 's1', provider: 'anthropic', host: 'api.anthropic.com' };
  for (let minute = 0; minute < 24 * 60; minute += 7) {
    clock.advance(7 * MINUTE);
    const result = authority.validate(mine.token, where);
    assert.equal(result.kind, 'allow', `rejected after ${minute + 7} minutes`);
  }
  // The authorisation window never grows beyond one TTL ahead: renewal extends, it does not accumulate.
  const result = authority.validate(mine.token, where);
  assert.ok(result.kind === 'allow' && result.expiresAt - clock.now() <= HOUR);
});

void test('a revoked session stays dead through renewal ticks, and its timers are cancelled', () => {
  const clock = new ManualClock();
  const authority = new PhantomAuthority({ clock, ttlMs: HOUR });
  const grant = authority.issue({ sessionId: 's1', ...anthropic });
  clock.advance(30 * MINUTE);
  authority.revoke('s1');
  assert.equal(clock.pendingTimers(), 0);
  assert.equal(authority.renew('s1'), 0);
  clock.advance(3 * HOUR);
  assert.deepEqual(authority.validate(grant.token, { sessionId: 's1', provider: 'anthropic', host: 'api.anthropic.com' }), refusal('revoked'));
});

void test('an ended session (isSessionAlive false) lapses at expiry and is not revived by a later renew', () => {
  const clock = new ManualClock();
  const authority = new PhantomAuthority({ clock, ttlMs: HOUR });
  let alive = true;
  const grant = authority.issue({ sessionId: 's1', ...anthropic }, { isSessionAlive: () => alive });
  const where = { sessionId: 's1', provider: 'anthropic', host: 'api.anthropic.com' };
  clock.advance(2 * HOUR);
  assert.equal(authority.validate(grant.token, where).kind, 'allow');
  alive = false;
  clock.advance(HOUR + MINUTE);
  assert.deepEqual(authority.validate(grant.token, where), refusal('expired'));
  alive = true;
  assert.equal(authority.renew('s1'), 0);
  assert.deepEqual(authority.validate(grant.token, where), refusal('expired'));
});

void test('revoking one session leaves the others working', () => {
  const { authority, other } = setup();
  authority.revoke('s1');
  assert.equal(authority.validate(other.token, { sessionId: 's2', provider: 'anthropic', host: 'api.anthropic.com' }).kind, 'allow');
});

void test('expired and revoked records are forgotten after the retention period', () => {
  const clock = new ManualClock();
  const authority = new PhantomAuthority({ clock, ttlMs: HOUR, retainMs: HOUR });
  const grant = authority.issue({ sessionId: 's1', ...anthropic });
  authority.revoke('s1');
  clock.advance(2 * HOUR);
  authority.issue({ sessionId: 's3', ...anthropic });
  assert.deepEqual(authority.validate(grant.token, { sessionId: 's1', provider: 'anthropic', host: 'api.anthropic.com' }), refusal('unknown'));
});

void test('the authority refuses nonsensical TTLs', () => {
  const clock = new ManualClock();
  assert.throws(() => new PhantomAuthority({ clock, ttlMs: 0 }), RangeError);
  assert.throws(() => new PhantomAuthority({ clock, ttlMs: HOUR, renewBeforeMs: HOUR }), RangeError);
});

void test('dispose revokes everything and leaves no timers', () => {
  const { clock, authority, mine } = setup();
  authority.dispose();
  assert.equal(clock.pendingTimers(), 0);
  assert.equal(authority.validate(mine.token, { sessionId: 's1', provider: 'anthropic', host: 'api.anthropic.com' }).kind, 'deny');
});

void test('setTtl: a shorter TTL cuts the live window at once; a longer one applies from the next renewal', () => {
  const { clock, authority, mine } = setup(HOUR);
  const where = { sessionId: 's1', provider: 'anthropic', host: 'api.anthropic.com' } as const;
  clock.advance(10 * MINUTE);
  authority.setTtl(5 * MINUTE);
  const cut = authority.validate(mine.token, where);
  assert.ok(cut.kind === 'allow');
  if (cut.kind === 'allow') assert.equal(cut.expiresAt, clock.now() + 5 * MINUTE, 'the 50 minutes left were cut to the new 5');
  // Renewed by the new TTL while the session lives: still valid long after the old hour.
  clock.advance(2 * HOUR);
  const renewed = authority.validate(mine.token, where);
  assert.ok(renewed.kind === 'allow');
  if (renewed.kind === 'allow') assert.ok(renewed.expiresAt - clock.now() <= 5 * MINUTE, 'renewals extend by the new TTL only');
  authority.setTtl(2 * HOUR);
  clock.advance(6 * MINUTE);
  const longer = authority.validate(mine.token, where);
  assert.ok(longer.kind === 'allow', 'a renewal under the longer TTL kept it alive');
  if (longer.kind === 'allow') assert.ok(longer.expiresAt - clock.now() > HOUR, 'the next renewal extended by the new TTL');
  assert.throws(() => authority.setTtl(10), /at least 1000 ms/);
  authority.revoke('s1');
  authority.setTtl(HOUR);
  assert.deepEqual(authority.validate(mine.token, where), refusal('revoked'), 'a TTL change never revives a revoked phantom');
  authority.dispose();
});

void test('PhantomStreamScanner: wherever the chunks split a body, no byte of a phantom is released, and memory stays bounded', () => {
  const token = mintPhantomToken();
  const nearMiss = `${token.slice(0, -1)}!`;
  const piece = fc.oneof(
    fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)),
    fc.constant(Buffer.from(token)),
    fc.constant(Buffer.from(nearMiss)),
    fc.constant(Buffer.from(PHANTOM_PREFIX)),
  );
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 60 }), { minLength: 1, maxLength: 10 }), (pieces, sizes) => {
      const body = Buffer.concat(pieces);
      const firstToken = /cdn_ph_[A-Za-z0-9_-]{43}/.exec(body.toString('latin1'))?.index ?? -1;
      const scanner = new PhantomStreamScanner();
      const released: Buffer[] = [];
      let pushed = 0;
      let refused = false;
      for (let at = 0, k = 0; at < body.length && !refused; k++) {
        const chunk = body.subarray(at, at + (sizes[k % sizes.length] as number));
        at += chunk.length;
        pushed += chunk.length;
        const v = scanner.push(chunk);
        if (v.kind === 'deny') {
          refused = true;
          assert.equal(v.reason, 'credential_leak');
          assert.match(v.message, /phantom/);
          assert.doesNotMatch(v.message, /cdn_ph_/);
          break;
        }
        released.push(v.value);
        const out = released.reduce((n, b) => n + b.length, 0);
        assert.ok(pushed - out < PHANTOM_LENGTH, 'holds back less than one token');
      }
      const out = Buffer.concat(released);
      if (firstToken >= 0) {
        assert.ok(refused, 'the phantom was seen');
        assert.ok(out.length <= firstToken, 'not one byte of it went out');
      } else {
        assert.ok(!refused);
        assert.deepEqual(Buffer.concat([out, scanner.end()]), body);
      }
    }),
    { numRuns: 2000 },
  );
});

/** What `validate` answers for a refusal: the reason code and its fixed message. */
function refusal(reason: PhantomRejectReason): PhantomValidation {
  return { kind: 'deny', reason, message: PHANTOM_REJECT_MESSAGES[reason] };
}
