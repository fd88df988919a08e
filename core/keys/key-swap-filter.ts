/**
 * The model-route request filter that turns a sandbox's phantom into the real
 * provider key. It is deliberately independent of the egress proxy: it takes a
 * plain host + lowercase header map and returns a decision, so it is a pure
 * function of its inputs (plus the authority and credential source) and the
 * proxy adapts it to its own filter chain.
 *
 * Runs only on the model route, i.e. after the proxy has terminated the
 * sandbox's TLS and will forward over verified TLS to the provider host.
 */
import type { AuditEventInput, AuditSink, Severity } from '../audit/audit-event.js';
import { deny, type Deny } from '../decision.js';
import type { CredentialSource } from './credential-source.js';
import { isPhantomToken, PHANTOM_REJECT_MESSAGES, phantomFingerprint, type PhantomAuthority, type PhantomRejectReason } from './phantom.js';

/** Which header the provider expects its key in: `x-api-key: KEY` (Anthropic) or `authorization: Bearer KEY` (OpenAI-style). */
export type KeyHeaderStyle = 'x-api-key' | 'authorization-bearer';

/**
 * The headers a client may carry its credential in. The filter removes both
 * from every request it passes and writes the real key into the provider's,
 * so after it they hold only what Cordon wrote.
 */
export const CREDENTIAL_HEADERS: readonly string[] = ['x-api-key', 'authorization'];

/** Header names are lowercase; values are single strings (the proxy joins repeats before calling). */
export type RequestHeaders = Readonly<Record<string, string>>;

/** The part of a model-route request the filter looks at. */
export interface KeySwapRequest {
  /** Host the request is addressed to (from the proxy's route, not the client's Host header alone). */
  readonly host: string;
  readonly headers: RequestHeaders;
}

/** Why the filter refused a request. Phantom reasons come from PhantomAuthority. */
export type KeySwapRejectReason =
  | PhantomRejectReason
  /** No `x-api-key` and no `Authorization: Bearer` credential on the request. */
  | 'missing_phantom'
  /** Both headers carry different credentials; the filter will not guess which one counts. */
  | 'ambiguous_credentials'
  /** The phantom is fine but there is no real key (none stored, keychain locked, credential command failed). */
  | 'no_credential';

/**
 * The filter's decision. `deny`: refused, with the HTTP status to answer.
 * `rewrite`: `headers` is the complete header map to send upstream: every
 * incoming credential header is removed and the real key is set in the
 * provider's header, so the phantom never reaches the vendor.
 */
export type KeySwapResult =
  | Deny<KeySwapRejectReason, { readonly status: 401 | 403 }>
  | { readonly kind: 'rewrite'; readonly headers: Record<string, string> };

/** A configured key-swap filter. Never rejects its promise. */
export type KeySwapFilter = (request: KeySwapRequest) => Promise<KeySwapResult>;

/** What the filter needs to know about the session and provider it serves. */
export interface KeySwapFilterOptions {
  readonly authority: PhantomAuthority;
  readonly sessionId: string;
  readonly provider: string;
  /** The provider's configured API host, e.g. `api.anthropic.com`. */
  readonly providerHost: string;
  readonly header: KeyHeaderStyle;
  readonly credential: CredentialSource;
  readonly audit: AuditSink;
}

// 401 = "your credential is not valid here"; 403 = "valid-looking, but you may not
// use it here" (another session's phantom, wrong host/provider, revoked).
const STATUS_BY_REASON: Record<KeySwapRejectReason, 401 | 403> = {
  malformed: 401,
  unknown: 401,
  missing_phantom: 401,
  ambiguous_credentials: 401,
  expired: 401,
  no_credential: 401,
  foreign_session: 403,
  revoked: 403,
  wrong_host: 403,
  wrong_provider: 403,
};

// A phantom used from another session, after revocation or toward another host
// is what an exfiltrated token looks like, so those are high severity.
const SEVERITY_BY_REASON: Record<PhantomRejectReason | 'missing_phantom' | 'ambiguous_credentials', Severity> = {
  malformed: 'medium',
  unknown: 'medium',
  missing_phantom: 'low',
  ambiguous_credentials: 'medium',
  expired: 'medium',
  foreign_session: 'high',
  revoked: 'high',
  wrong_host: 'high',
  wrong_provider: 'high',
};

const PHANTOM_MESSAGES: Record<PhantomRejectReason | 'missing_phantom' | 'ambiguous_credentials', string> = {
  ...PHANTOM_REJECT_MESSAGES,
  missing_phantom: 'the request carries no API key; the sandbox must send its phantom token',
  ambiguous_credentials: 'the request carries two different credentials in x-api-key and Authorization',
};

/** Builds the key-swap filter for one session's model route to one provider. */
export function createKeySwapFilter(options: KeySwapFilterOptions): KeySwapFilter {
  const { authority, sessionId, provider, providerHost, header, credential, audit } = options;

  const reject = (reason: KeySwapRejectReason, message: string, host: string, token: string | null): KeySwapResult => {
    const status = STATUS_BY_REASON[reason];
    audit.record(rejectionEvent({ reason, message, status, sessionId, provider, providerHost, host, token }));
    return deny(reason, message, { status });
  };

  return async (request) => {
    const found = findPresentedCredential(request.headers);
    if (found.kind === 'none') return reject('missing_phantom', PHANTOM_MESSAGES.missing_phantom, request.host, null);
    if (found.kind === 'ambiguous') return reject('ambiguous_credentials', PHANTOM_MESSAGES.ambiguous_credentials, request.host, null);

    const phantom = authority.validate(found.token, { sessionId, provider, host: request.host });
    if (phantom.kind === 'deny') return reject(phantom.reason, phantom.message, request.host, found.token);

    const real = await credential.get();
    if (!real.ok) return reject('no_credential', real.message, request.host, found.token);

    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers)) {
      if (CREDENTIAL_HEADERS.includes(name)) continue;
      headers[name] = value;
    }
    if (header === 'x-api-key') headers['x-api-key'] = real.secret;
    else headers['authorization'] = `Bearer ${real.secret}`;
    return { kind: 'rewrite', headers };
  };
}

type PresentedCredential = { readonly kind: 'none' } | { readonly kind: 'ambiguous' } | { readonly kind: 'token'; readonly token: string };

/**
 * Finds the credential the client sent. Both header styles are accepted
 * whatever the provider uses, because SDKs differ; if both are present they
 * must agree, otherwise the request is refused rather than guessed at.
 */
function findPresentedCredential(headers: RequestHeaders): PresentedCredential {
  const candidates: string[] = [];
  const apiKey = headers['x-api-key']?.trim();
  if (apiKey !== undefined && apiKey !== '') candidates.push(apiKey);
  const authorization = headers['authorization']?.trim();
  if (authorization !== undefined && authorization !== '') {
    const bearer = /^bearer\s+(\S+)$/i.exec(authorization);
    // A non-Bearer Authorization (Basic, garbage) is still a credential the
    // client tried to send; treat the raw value as the presented token so it is
    // refused as malformed instead of silently forwarded.
    candidates.push(bearer?.[1] ?? authorization);
  }
  const [first, second] = candidates;
  if (first === undefined) return { kind: 'none' };
  if (second !== undefined && second !== first) return { kind: 'ambiguous' };
  return { kind: 'token', token: first };
}

interface RejectionContext {
  readonly reason: KeySwapRejectReason;
  readonly message: string;
  readonly status: 401 | 403;
  readonly sessionId: string;
  readonly provider: string;
  readonly providerHost: string;
  readonly host: string;
  readonly token: string | null;
}

/**
 * The audit record for a refusal. It names the session, provider, hosts and
 * reason; for a phantom-shaped token it adds a 12-hex fingerprint so repeated
 * use of one leaked phantom can be correlated. It never holds a token or key.
 */
function rejectionEvent(ctx: RejectionContext): AuditEventInput {
  const details: Record<string, unknown> = {
    provider: ctx.provider,
    providerHost: ctx.providerHost,
    requestHost: ctx.host,
    reason: ctx.reason,
    httpStatus: ctx.status,
  };
  if (ctx.token !== null && isPhantomToken(ctx.token)) details['phantomFingerprint'] = phantomFingerprint(ctx.token);
  if (ctx.reason === 'no_credential') {
    return {
      kind: 'key.unavailable',
      ocsfClass: 'api_activity',
      activity: { id: 2, name: 'Read' },
      outcome: 'failure',
      severity: 'medium',
      message: `Model request refused: ${ctx.message}`,
      sessionId: ctx.sessionId,
      details,
    };
  }
  return {
    kind: 'key.phantom_rejected',
    ocsfClass: 'detection_finding',
    activity: { id: 1, name: 'Create' },
    outcome: 'failure',
    severity: SEVERITY_BY_REASON[ctx.reason],
    message: `Phantom token refused on ${ctx.host}: ${ctx.message}`,
    sessionId: ctx.sessionId,
    details,
  };
}
