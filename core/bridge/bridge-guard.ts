/**
 * Who may talk to the `cordon ui` bridge: a pure decision over the parts of an
 * HTTP request or WebSocket upgrade that matter, checked deny-first in the
 * order of the threat list in ./README.md (Host, then Origin, then method and
 * path, then the token).
 */
import type { Allow, Deny } from '../decision.js';
import { createHash, timingSafeEqual } from 'node:crypto';
import { BRIDGE_PATH, TOKEN_PATTERN, TOKEN_SUBPROTOCOL_PREFIX } from '../api/bridge-protocol.js';

/** The one host the bridge listens on; nothing else is accepted in Host or Origin. */
export const BRIDGE_HOST = '127.0.0.1';

export type GuardDenyReason =
  /** Host is not exactly `127.0.0.1:<port>`: DNS rebinding, or a name we do not serve. */
  | 'bad_host'
  /** Origin is present and is not `http://127.0.0.1:<port>`: another site's page. */
  | 'bad_origin'
  /** A WebSocket upgrade without Origin: browsers always send one, so refuse to guess. */
  | 'origin_required'
  /** Only GET and HEAD exist over plain HTTP (no state changes, so no CSRF target). */
  | 'method_not_allowed'
  /** An upgrade anywhere but BRIDGE_PATH. */
  | 'not_found'
  | 'no_token'
  | 'bad_token'
  /** `/api` over plain HTTP, authenticated: it only speaks WebSocket. */
  | 'upgrade_required';

export type GuardDecision =
  | Allow
  | Deny<GuardDenyReason, { readonly status: 401 | 403 | 404 | 405 | 426 }>;

export interface GuardRequest {
  /** `upgrade` for a WebSocket handshake, `http` for anything else. */
  readonly kind: 'http' | 'upgrade';
  readonly method: string;
  /** The raw request target (path and query), as received. */
  readonly url: string;
  readonly host: string | undefined;
  readonly origin: string | undefined;
  /** The raw Sec-WebSocket-Protocol header (comma-separated offers), if any. */
  readonly subprotocols: string | undefined;
  /** The raw X-Cordon-Token header, if any. */
  readonly tokenHeader: string | undefined;
}

export interface GuardConfig {
  /** The port the bridge is bound to on BRIDGE_HOST. */
  readonly port: number;
  /** 64 lower-case hex digits. */
  readonly token: string;
}

const allow: GuardDecision = { kind: 'allow' };

function deny(reason: GuardDenyReason): GuardDecision {
  switch (reason) {
    case 'bad_host':
      return { kind: 'deny', reason, status: 403, message: 'this server answers only to 127.0.0.1 on its own port' };
    case 'bad_origin':
      return { kind: 'deny', reason, status: 403, message: 'requests from other origins are refused' };
    case 'origin_required':
      return { kind: 'deny', reason, status: 403, message: 'a WebSocket upgrade must carry an Origin' };
    case 'method_not_allowed':
      return { kind: 'deny', reason, status: 405, message: 'only GET and HEAD are served' };
    case 'not_found':
      return { kind: 'deny', reason, status: 404, message: 'not found' };
    case 'no_token':
      return { kind: 'deny', reason, status: 401, message: 'no token: open the URL that `cordon ui` printed' };
    case 'bad_token':
      return { kind: 'deny', reason, status: 401, message: 'wrong token: open the URL that `cordon ui` printed by this run' };
    case 'upgrade_required':
      return { kind: 'deny', reason, status: 426, message: 'this path speaks WebSocket only' };
  }
}

/** The path part of a request target, without query or fragment. */
export function requestPath(url: string): string {
  const cut = url.search(/[?#]/);
  return cut === -1 ? url : url.slice(0, cut);
}

/** The only Origin the bridge's own pages have. */
export function bridgeOrigin(port: number): string {
  return `http://${BRIDGE_HOST}:${port}`;
}

/**
 * Decides whether REQ may proceed. For `http` requests other than BRIDGE_PATH
 * an `allow` means "serve a static file" (the shell holds no data, and the
 * token sits in the URL fragment, which never reaches a server, so no token
 * can be asked of them). For the upgrade, `allow` means the caller proved it
 * holds the token.
 */
export function decideBridgeRequest(req: GuardRequest, cfg: GuardConfig): GuardDecision {
  // Rebinding first: a foreign name learns nothing else, not even whether it had the token.
  if (req.host !== `${BRIDGE_HOST}:${cfg.port}`) return deny('bad_host');
  if (req.origin !== undefined && req.origin !== bridgeOrigin(cfg.port)) return deny('bad_origin');
  const path = requestPath(req.url);
  if (req.kind === 'upgrade') {
    if (req.method !== 'GET' || path !== BRIDGE_PATH) return deny('not_found');
    if (req.origin === undefined) return deny('origin_required');
    return checkToken(req, cfg.token) ?? allow;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') return deny('method_not_allowed');
  if (path === BRIDGE_PATH) return checkToken(req, cfg.token) ?? deny('upgrade_required');
  return allow;
}

/** Null when every token the request offers is the right one and it offers at least one. */
function checkToken(req: GuardRequest, token: string): GuardDecision | null {
  const offered = offeredTokens(req);
  if (offered.length === 0) return deny('no_token');
  // Every offer must match: a client that sends two different tokens is confused or probing.
  let good = true;
  for (const t of offered) good = tokensEqual(t, token) && good;
  return good ? null : deny('bad_token');
}

/** Tokens from the subprotocol offers and the header; the query string is never read. */
export function offeredTokens(req: Pick<GuardRequest, 'subprotocols' | 'tokenHeader'>): string[] {
  const out: string[] = [];
  for (const p of (req.subprotocols ?? '').split(',')) {
    const name = p.trim();
    if (name.startsWith(TOKEN_SUBPROTOCOL_PREFIX)) out.push(name.slice(TOKEN_SUBPROTOCOL_PREFIX.length));
  }
  if (req.tokenHeader !== undefined) out.push(req.tokenHeader.trim());
  return out;
}

/**
 * Constant-time comparison: both sides are hashed first, so the comparison
 * runs over equal lengths and leaks neither the token's length nor how much
 * of a guess matched.
 */
export function tokensEqual(offered: string, token: string): boolean {
  if (!TOKEN_PATTERN.test(token)) return false;
  const a = createHash('sha256').update(offered, 'utf8').digest();
  const b = createHash('sha256').update(token, 'utf8').digest();
  return timingSafeEqual(a, b);
}
