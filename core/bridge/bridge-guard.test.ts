import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideBridgeRequest, offeredTokens, tokensEqual, type GuardRequest } from './bridge-guard.js';

const PORT = 41234;
const TOKEN = 'a'.repeat(32) + '0123456789abcdef'.repeat(2);
const OTHER = 'b'.repeat(64);
const cfg = { port: PORT, token: TOKEN };
const HOST = `127.0.0.1:${PORT}`;
const ORIGIN = `http://127.0.0.1:${PORT}`;

const upgrade = (over: Partial<GuardRequest>): GuardRequest => ({
  kind: 'upgrade',
  method: 'GET',
  url: '/api',
  host: HOST,
  origin: ORIGIN,
  subprotocols: `cordon.v1, cordon-token.${TOKEN}`,
  tokenHeader: undefined,
  ...over,
});
const http = (over: Partial<GuardRequest>): GuardRequest => ({
  kind: 'http',
  method: 'GET',
  url: '/',
  host: HOST,
  origin: undefined,
  subprotocols: undefined,
  tokenHeader: undefined,
  ...over,
});

/** [what, request, expected verdict or reason code] — deny-first order shows in the rows that break two rules. */
const TABLE: Array<[string, GuardRequest, string]> = [
  ['upgrade with the token as subprotocol', upgrade({}), 'allow'],
  ['upgrade with the token as header', upgrade({ subprotocols: 'cordon.v1', tokenHeader: TOKEN }), 'allow'],
  ['upgrade with the token as header, no subprotocols', upgrade({ subprotocols: undefined, tokenHeader: TOKEN }), 'allow'],
  ['upgrade without a token', upgrade({ subprotocols: 'cordon.v1' }), 'no_token'],
  ['upgrade with a wrong token', upgrade({ subprotocols: `cordon.v1, cordon-token.${OTHER}` }), 'bad_token'],
  ['upgrade with a token of the wrong length', upgrade({ subprotocols: `cordon-token.${TOKEN.slice(1)}` }), 'bad_token'],
  ['upgrade with the upper-cased token', upgrade({ subprotocols: `cordon-token.${TOKEN.toUpperCase()}` }), 'bad_token'],
  ['upgrade with a right and a wrong token', upgrade({ tokenHeader: OTHER }), 'bad_token'],
  ['upgrade with the token in the query string only', upgrade({ url: `/api?token=${TOKEN}`, subprotocols: 'cordon.v1' }), 'no_token'],
  ['upgrade without Origin', upgrade({ origin: undefined }), 'origin_required'],
  ['upgrade from a foreign origin', upgrade({ origin: 'http://evil.example' }), 'bad_origin'],
  ['upgrade from the localhost origin', upgrade({ origin: `http://localhost:${PORT}` }), 'bad_origin'],
  ['upgrade from https on our port', upgrade({ origin: `https://127.0.0.1:${PORT}` }), 'bad_origin'],
  ['upgrade from the null origin (sandboxed frame, file:)', upgrade({ origin: 'null' }), 'bad_origin'],
  ['upgrade to a rebound name', upgrade({ host: `evil.example:${PORT}` }), 'bad_host'],
  ['upgrade to another port', upgrade({ host: `127.0.0.1:${PORT + 1}` }), 'bad_host'],
  ['upgrade to localhost', upgrade({ host: `localhost:${PORT}`, origin: `http://localhost:${PORT}` }), 'bad_host'],
  ['upgrade without Host', upgrade({ host: undefined }), 'bad_host'],
  ['upgrade without a port in Host', upgrade({ host: '127.0.0.1' }), 'bad_host'],
  ['rebound name and no token: Host decides first', upgrade({ host: `evil.example:${PORT}`, subprotocols: undefined }), 'bad_host'],
  ['upgrade elsewhere than /api', upgrade({ url: '/other' }), 'not_found'],
  ['upgrade with POST', upgrade({ method: 'POST' }), 'not_found'],
  ['GET / without anything', http({}), 'allow'],
  ['GET an asset', http({ url: '/assets/index-abc.js' }), 'allow'],
  ['GET / with our own Origin', http({ origin: ORIGIN }), 'allow'],
  ['GET / from a rebound name', http({ host: `evil.example:${PORT}` }), 'bad_host'],
  ['GET / on another port in Host', http({ host: `127.0.0.1:${PORT + 1}` }), 'bad_host'],
  ['GET / from a foreign Origin', http({ origin: 'http://evil.example' }), 'bad_origin'],
  ['POST / (no state-changing HTTP)', http({ method: 'POST' }), 'method_not_allowed'],
  ['HEAD /', http({ method: 'HEAD' }), 'allow'],
  ['GET /api without a token', http({ url: '/api' }), 'no_token'],
  ['GET /api with a wrong token', http({ url: '/api', tokenHeader: OTHER }), 'bad_token'],
  ['GET /api?token=… (query never read)', http({ url: `/api?token=${TOKEN}` }), 'no_token'],
  ['GET /api with the token but no upgrade', http({ url: '/api', tokenHeader: TOKEN }), 'upgrade_required'],
];

for (const [what, req, expected] of TABLE) {
  test(`guard: ${what} → ${expected}`, () => {
    const d = decideBridgeRequest(req, cfg);
    assert.equal(d.kind === 'allow' ? 'allow' : d.reason, expected);
  });
}

test('guard: statuses are 401 for tokens, 403 for Host and Origin, and no message carries the token', () => {
  const statusOf: Record<string, number> = { no_token: 401, bad_token: 401, bad_host: 403, bad_origin: 403, origin_required: 403, not_found: 404, method_not_allowed: 405, upgrade_required: 426 };
  for (const [what, req] of TABLE) {
    const d = decideBridgeRequest(req, cfg);
    if (d.kind === 'allow') continue;
    assert.equal(d.status, statusOf[d.reason], what);
    assert.ok(!d.message.includes(TOKEN), what);
  }
});

test('guard: tokens are read from the subprotocol offers and the header, never elsewhere', () => {
  assert.deepEqual(offeredTokens({ subprotocols: ` cordon.v1 ,cordon-token.${TOKEN}`, tokenHeader: undefined }), [TOKEN]);
  assert.deepEqual(offeredTokens({ subprotocols: undefined, tokenHeader: ` ${TOKEN} ` }), [TOKEN]);
  assert.deepEqual(offeredTokens({ subprotocols: 'cordon.v1', tokenHeader: undefined }), []);
});

test('guard: tokensEqual refuses everything but the exact token, and a malformed configured token matches nothing', () => {
  assert.equal(tokensEqual(TOKEN, TOKEN), true);
  assert.equal(tokensEqual(OTHER, TOKEN), false);
  assert.equal(tokensEqual('', TOKEN), false);
  assert.equal(tokensEqual(TOKEN + '0', TOKEN), false);
  assert.equal(tokensEqual('', ''), false, 'an empty configured token must never authenticate');
  assert.equal(tokensEqual('short', 'short'), false);
});
