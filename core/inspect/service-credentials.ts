/**
 * Phantom credentials for any service (issue 19, item 4). For each
 * `credentials.<name>` the sandbox gets a phantom (`cdn_ph_…`, the same shape
 * as the model route's, so every guard that spots one spots these) in the
 * entry's variable; the real value stays on the host (keychain or credential
 * command) and is written into a request only here: on an inspected request
 * to one of the entry's hosts, in the entry's header (or basic password, or
 * query parameter).
 *
 * Anywhere else a phantom is a leak: in another header, the URL, the body, to
 * another host. The request is refused (`credential_leak`) and audited with
 * the credential's name and the phantom's fingerprint, never a value. Plain
 * HTTP is covered by the proxy's phantom guards (every phantom, any host).
 * A response that echoes the real value gets the phantom back in its place.
 * Threats: docs/threat-model-inspection.md (I10–I12).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { Transform } from 'node:stream';
import type { AuditSink } from '../audit/audit-event.js';
import { allow, deny } from '../decision.js';
import { hostMatches, parseHostPattern, type HostPattern } from '../egress/host-match.js';
import type { FilterResult, ModelRequest, RequestFilter, ResponseTransformFactory } from '../egress/model-route.js';
import type { CredentialSource } from '../keys/credential-source.js';
import { mintPhantomToken, phantomFingerprint } from '../keys/phantom.js';
import type { ServiceCredentialPolicy } from './credentials-policy.js';

/** The literal start of every phantom PHANTOMS matches. */
const PHANTOM_PREFIX = 'cdn_ph_';
const PHANTOMS = new RegExp(`${PHANTOM_PREFIX}[A-Za-z0-9_-]{43}`, 'g');

interface Entry {
  readonly name: string;
  readonly policy: ServiceCredentialPolicy;
  readonly hosts: readonly HostPattern[];
  readonly phantom: string;
  readonly hash: Buffer;
  readonly source: CredentialSource;
  /** The last real value handed out, to mask it in responses; in memory only. */
  real: string | null;
}

export interface ServiceCredentials {
  /** Variables for the sandbox: one phantom per credential. */
  readonly env: Readonly<Record<string, string>>;
  /** Inspected requests: swaps a credential's phantom on its hosts, refuses every other phantom. Register first. */
  readonly filter: RequestFilter;
  /** Header names the swap wrote on REQUEST, which later filters (DLP) must not scan. */
  swappedHeaders(request: ModelRequest): readonly string[];
  /** Replaces real values with their phantoms in a response body. */
  readonly responseTransform: ResponseTransformFactory;
  /** The same for one response header value. */
  maskHeader(request: ModelRequest, value: string): string;
  /**
   * Replaces the credential set (a policy reload): a credential that stays
   * keeps its phantom (the agent's environment still holds it) and takes its
   * new hosts, header and source at once; a removed one is forgotten, so its
   * phantom is refused (`credential_leak`) everywhere, its former hosts
   * included; an added one gets a new phantom, returned in `env`.
   */
  update(credentials: Readonly<Record<string, ServiceCredentialPolicy>>): CredentialSetChange;
  /** The variable → phantom map of the credentials in force now. */
  currentEnv(): Readonly<Record<string, string>>;
  /** Forgets the real values and refuses every phantom from now on (session end). */
  revoke(): void;
}

/** What a reload changed in the credential set: names only, and the added credentials' phantoms by variable. */
export interface CredentialSetChange {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly string[];
  /** Variable → phantom for the added credentials (and kept ones whose variable changed). */
  readonly env: Readonly<Record<string, string>>;
}

const sha = (s: string): Buffer => createHash('sha256').update(s).digest();

/**
 * Sets up the session's service credentials. `sourceFor` gives each entry's
 * real value at request time (keychain or its credential command).
 */
export function setupServiceCredentials(opts: {
  readonly sessionId: string;
  readonly credentials: Readonly<Record<string, ServiceCredentialPolicy>>;
  readonly sourceFor: (name: string, policy: ServiceCredentialPolicy) => CredentialSource;
  readonly audit: AuditSink;
  readonly mint?: () => string;
}): ServiceCredentials {
  const mint = opts.mint ?? (() => mintPhantomToken());
  const entryFor = (name: string, policy: ServiceCredentialPolicy, phantom: string): Entry => {
    const hosts = policy.hosts.flatMap((h) => {
      const r = parseHostPattern(h);
      return r.ok ? [r.pattern] : [];
    });
    return { name, policy, hosts, phantom, hash: sha(phantom), source: opts.sourceFor(name, policy), real: null };
  };
  // Replaced whole by `update`: a request in flight keeps the set it started with.
  let entries: Entry[] = Object.entries(opts.credentials).map(([name, policy]) => entryFor(name, policy, mint()));
  let revoked = false;
  /** Entries a reload removed or replaced after their real value went out: still masked in every response, on any host. */
  let retired: Entry[] = [];
  const owner = (token: string): Entry | null => {
    if (revoked) return null;
    const h = sha(token);
    let found: Entry | null = null;
    for (const e of entries) if (timingSafeEqual(h, e.hash)) found = e;
    return found;
  };
  const onHost = (e: Entry, host: string): boolean => e.hosts.some((p) => hostMatches(p, host));

  const leak = (req: ModelRequest, where: string, token: string, e: Entry | null): FilterResult => {
    opts.audit.record({
      kind: 'key.phantom_rejected',
      ocsfClass: 'detection_finding',
      activity: { id: 1, name: 'Create' },
      outcome: 'failure',
      severity: 'high',
      message: `a Cordon phantom token ${e ? `for credential ${e.name} ` : ''}was sent to ${req.host} in ${where}; refused`,
      sessionId: opts.sessionId,
      details: { reason: 'credential_leak', credential: e?.name ?? null, requestHost: req.host, where, phantomFingerprint: phantomFingerprint(token) },
    });
    return deny('credential_leak', `Cordon refused to send a session credential to ${req.host} (in ${where}); a credential only goes to its own hosts, in its own header.`, { status: 403 });
  };

  const filter: RequestFilter = {
    name: 'service-credentials',
    async apply(req: ModelRequest): Promise<FilterResult> {
      // Where each credential may legitimately sit on this request: its header (or basic password, or query parameter), on its hosts.
      const swaps: Array<{ e: Entry; kind: 'header' | 'basic' | 'query'; user?: string }> = [];
      // 1. The body: never a place for a phantom (bytes, as the plain-HTTP guard reads them).
      // Every phantom starts with PHANTOM_PREFIX: a byte search (memmem) rules most bodies out without making a string of them.
      if (req.body.indexOf(PHANTOM_PREFIX) >= 0) for (const m of req.body.toString('latin1').matchAll(PHANTOMS)) return leak(req, 'the body', m[0], owner(m[0]));
      // 2. Headers.
      for (const [name, value] of Object.entries(req.headers)) {
        const texts = [value];
        const basic = /^basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(value);
        const decoded = basic?.[1] ? Buffer.from(basic[1], 'base64').toString('latin1') : null;
        if (decoded !== null) texts.push(decoded);
        for (const text of texts) {
          for (const m of text.matchAll(PHANTOMS)) {
            const e = owner(m[0]);
            if (!e || !onHost(e, req.host) || e.policy.header.toLowerCase() !== name || e.policy.scheme === 'query') return leak(req, `header ${name}`, m[0], e);
            if (e.policy.scheme === 'basic') {
              // The phantom must be the password of a basic credential.
              if (text !== decoded || !decoded.endsWith(`:${m[0]}`)) return leak(req, `header ${name}`, m[0], e);
              swaps.push({ e, kind: 'basic', user: decoded.slice(0, decoded.length - m[0].length - 1) });
            } else swaps.push({ e, kind: 'header' });
          }
        }
      }
      // 3. The URL: only a query credential's own parameter, on its hosts.
      let path = req.path;
      const q = path.indexOf('?');
      const pathPart = q < 0 ? path : path.slice(0, q);
      for (const m of safeDecode(pathPart).matchAll(PHANTOMS)) return leak(req, 'the URL', m[0], owner(m[0]));
      const params = q < 0 ? [] : path.slice(q + 1).split('&');
      for (const p of params) {
        const eq = p.indexOf('=');
        const key = safeDecode(eq < 0 ? p : p.slice(0, eq));
        const val = safeDecode(eq < 0 ? '' : p.slice(eq + 1));
        for (const m of `${key}=${val}`.matchAll(PHANTOMS)) {
          const e = owner(m[0]);
          if (!e || !onHost(e, req.host) || e.policy.scheme !== 'query' || e.policy.queryParam !== key || val !== m[0]) return leak(req, 'the URL', m[0], e);
          swaps.push({ e, kind: 'query' });
        }
      }
      if (swaps.length === 0) return allow();
      // Every phantom on the request is in its place: write the real values.
      const headers: Record<string, string> = { ...req.headers };
      for (const s of swaps) {
        const real = await s.e.source.get();
        if (!real.ok) {
          opts.audit.record({ kind: 'key.unavailable', ocsfClass: 'api_activity', activity: { id: 2, name: 'Read' }, outcome: 'failure', severity: 'medium', message: `inspected request to ${req.host} refused: ${real.message}`, sessionId: opts.sessionId, details: { credential: s.e.name, reason: real.reason } });
          return deny('no_credential', `Cordon has no value for credential ${s.e.name}: ${real.message}`, { status: 401 });
        }
        s.e.real = real.secret;
        const h = s.e.policy.header.toLowerCase();
        if (s.kind === 'header') headers[h] = s.e.policy.format.replace('{}', real.secret);
        else if (s.kind === 'basic') headers[h] = `Basic ${Buffer.from(`${s.user ?? ''}:${real.secret}`, 'latin1').toString('base64')}`;
        else {
          const param = s.e.policy.queryParam ?? '';
          path = `${pathPart}?${params.map((p) => (safeDecode(p.split('=')[0] ?? '') === param ? `${encodeURIComponent(param)}=${encodeURIComponent(real.secret)}` : p)).join('&')}`;
        }
      }
      // An echoed credential must be found to be masked: ask for an uncompressed answer.
      headers['accept-encoding'] = 'identity';
      return { kind: 'rewrite', headers, path, note: `credentials: ${[...new Set(swaps.map((s) => s.e.name))].join(', ')}` };
    },
  };

  /** The entries whose real value may be in this exchange: swapped before, for this host. Masking more often than needed costs nothing. */
  const inPlay = (req: ModelRequest): Entry[] => [...entries.filter((e) => e.real !== null && onHost(e, req.host)), ...retired];

  return {
    env: Object.fromEntries(entries.map((e) => [e.policy.env, e.phantom])),
    filter,
    swappedHeaders: (req) => entries.filter((e) => e.real !== null && onHost(e, req.host) && e.policy.scheme !== 'query').map((e) => e.policy.header.toLowerCase()),
    responseTransform: (ctx) => {
      const pairs = inPlay(ctx.request).map((e) => [e.real as string, e.phantom] as const);
      return pairs.length === 0 ? null : maskStream(pairs);
    },
    maskHeader: (req, value) => {
      let out = value;
      for (const e of inPlay(req)) out = out.split(e.real as string).join(e.phantom);
      return out;
    },
    update: (credentials) => {
      const before = new Map(entries.map((e) => [e.name, e]));
      const added: string[] = [];
      const changed: string[] = [];
      const env: Record<string, string> = {};
      entries = Object.entries(credentials).map(([name, policy]) => {
        const old = before.get(name);
        if (!old) {
          added.push(name);
          const e = entryFor(name, policy, mint());
          env[policy.env] = e.phantom;
          return e;
        }
        if (JSON.stringify(old.policy) === JSON.stringify(policy)) return old;
        changed.push(name);
        if (old.policy.env !== policy.env) env[policy.env] = old.phantom;
        // The same phantom, the new rules; the real value is fetched again (its source may have changed).
        return entryFor(name, policy, old.phantom);
      });
      const removed = [...before.keys()].filter((n) => !(n in credentials));
      const gone = [...removed, ...changed].map((n) => before.get(n));
      retired = [...retired, ...gone.filter((e): e is Entry => e !== undefined && e.real !== null)];
      return { added, removed, changed, env };
    },
    currentEnv: () => Object.fromEntries(entries.map((e) => [e.policy.env, e.phantom])),
    revoke: () => {
      revoked = true;
      for (const e of entries) e.real = null;
      retired = [];
    },
  };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

/**
 * Replaces each real value with its phantom in a byte stream, holding back
 * the longest real value less one byte so a value split across chunks is
 * still caught.
 */
export function maskStream(pairs: ReadonlyArray<readonly [string, string]>): Transform {
  const reals = pairs.map(([r, p]) => [Buffer.from(r, 'latin1'), Buffer.from(p, 'latin1')] as const).filter(([r]) => r.length > 0);
  const hold = Math.max(0, ...reals.map(([r]) => r.length - 1));
  let carry = Buffer.alloc(0);
  const replaceAll = (buf: Buffer): Buffer => {
    let out = buf;
    for (const [r, p] of reals) {
      const parts: Buffer[] = [];
      let from = 0;
      for (let at = out.indexOf(r); at >= 0; at = out.indexOf(r, from)) {
        parts.push(out.subarray(from, at), p);
        from = at + r.length;
      }
      if (parts.length > 0) out = Buffer.concat([...parts, out.subarray(from)]);
    }
    return out;
  };
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      const all = replaceAll(Buffer.concat([carry, chunk]));
      const keep = Math.min(hold, all.length);
      carry = Buffer.from(all.subarray(all.length - keep));
      cb(null, all.subarray(0, all.length - keep));
    },
    flush(cb) {
      cb(null, replaceAll(carry));
    },
  });
}
