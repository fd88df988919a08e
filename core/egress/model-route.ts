/**
 * Request-filter chain and response-transform hook of the model route
 * (issue 3, item 6). The DLP issue plugs in a filter that redacts the request
 * and a transform that rehydrates the response; the keys issue plugs in a
 * filter that swaps the session's phantom token for the real key.
 */
import type { Transform } from 'node:stream';
import { allow, deny, type Allow, type Deny } from '../decision.js';

/** One model-route request as filters see it. Header names are lower-case. */
export interface ModelRequest {
  /** Provider name from `/model/<provider>/…`. */
  readonly provider: string;
  /**
   * The host this request will be sent to: the hostname of the provider's
   * base URL in force when the request arrived (lower-case, no port). The
   * proxy forwards to exactly this host, so a filter that checks where a
   * credential goes (the key swap) checks the real destination.
   */
  readonly host: string;
  readonly method: string;
  /** Path and query sent upstream, relative to the provider's base URL (starts with "/"). */
  readonly path: string;
  /** Request headers without hop-by-hop and proxy headers; `host` and `content-length` are set by the proxy. */
  readonly headers: Readonly<Record<string, string>>;
  /** The whole request body (bounded by the inspected-body limit). */
  readonly body: Buffer;
  readonly sessionId: string | undefined;
}

/**
 * What a filter decides. `deny` answers the agent with `status`, an
 * `X-Cordon-Deny: <reason>` header and `message` as body; its `path`, when
 * set, is the request's path as records of the refusal may show it (a value
 * the filter found there replaced), since the path it refused may hold one.
 * `rewrite` replaces the headers, body and/or path it names (whole map /
 * whole body / path and query; e.g. set `x-api-key`, or redact a value in the
 * query). `allow` passes the request on unchanged.
 */
export type FilterResult =
  | FilterRefusal
  | { readonly kind: 'rewrite'; readonly headers?: Readonly<Record<string, string>>; readonly body?: Buffer; readonly path?: string; readonly note?: string }
  | Allow;

/** A filter's refusal. `reason` must match `[a-z][a-z0-9_]{0,63}` (it goes into a header), or the chain fails closed. */
export type FilterRefusal = Deny<string, { readonly status: number; readonly path?: string }>;

/** A step in the model-route chain. Filters run in registration order; the first reject stops the chain. */
export interface RequestFilter {
  /** Stable name recorded in audit events. */
  readonly name: string;
  /** Must not throw for expected outcomes; a throw is treated as a reject (fail closed). */
  apply(req: ModelRequest): Promise<FilterResult>;
}

/**
 * Creates a stream transform for one response (raw body bytes in, bytes to the
 * agent out), or returns null to leave the response untouched. Called after the
 * upstream answered, with the final request and the response status/headers.
 */
export type ResponseTransformFactory = (ctx: ResponseContext) => Transform | null;

/** What a response transform knows about its exchange. */
export interface ResponseContext {
  readonly request: ModelRequest;
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

/**
 * Trace of one filter in an exchange, for the audit record (never header
 * values or body). Its field names and `action` words are what audit
 * records' `filters` hold (a SIEM contract): a `deny` is traced as `reject`.
 */
export interface FilterTrace {
  readonly name: string;
  readonly action: 'allow' | 'rewrite' | 'reject' | 'error';
  readonly reason?: string;
  readonly note?: string;
}

/**
 * Outcome of the whole chain. On a refusal, `path` is the request's path as
 * it may be recorded: the rejecting filter's, else the path as the chain last
 * had it.
 */
export type ChainResult =
  | Deny<string, { readonly status: number; readonly path: string; readonly trace: readonly FilterTrace[] }>
  | Allow<{ readonly request: ModelRequest; readonly trace: readonly FilterTrace[] }>;

/** Reason codes must be safe to put in a header and a log line. */
const REASON = /^[a-z][a-z0-9_]{0,63}$/;

/** A rewritten path must be a well-formed origin-form target: no spaces, controls or non-ASCII to split or smuggle a request line. */
const PATH = /^\/[\x21-\x7e]*$/;

/**
 * Runs `filters` in order over `request`. A filter that throws or returns a
 * malformed reject stops the chain with 500 `filter_failed`: an inspection step
 * that cannot run must not let the request through unseen.
 */
export async function runFilterChain(filters: readonly RequestFilter[], request: ModelRequest): Promise<ChainResult> {
  let current = request;
  const trace: FilterTrace[] = [];
  for (const f of filters) {
    let r: FilterResult;
    try {
      r = await f.apply(current);
    } catch {
      trace.push({ name: f.name, action: 'error' });
      return deny('filter_failed', `Cordon: request filter "${f.name}" failed, so the request was not sent.`, { status: 500, path: current.path, trace });
    }
    const invalid = (): ChainResult => {
      trace.push({ name: f.name, action: 'reject', reason: 'filter_failed' });
      return deny('filter_failed', `Cordon: request filter "${f.name}" gave an invalid answer, so the request was not sent.`, { status: 500, path: current.path, trace });
    };
    switch (r.kind) {
      case 'allow':
        trace.push({ name: f.name, action: 'allow' });
        break;
      case 'rewrite': {
        if (r.path !== undefined && !PATH.test(r.path)) return invalid();
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(r.headers ?? current.headers)) headers[k.toLowerCase()] = v;
        current = { ...current, headers, body: r.body ?? current.body, path: r.path ?? current.path };
        trace.push(r.note === undefined ? { name: f.name, action: 'rewrite' } : { name: f.name, action: 'rewrite', note: r.note });
        break;
      }
      case 'deny': {
        if (!REASON.test(r.reason) || r.status < 400 || r.status > 599) return invalid();
        trace.push({ name: f.name, action: 'reject', reason: r.reason });
        return deny(r.reason, r.message.replace(/[\r\n]+/g, ' '), { status: r.status, path: r.path ?? current.path, trace });
      }
    }
  }
  return allow({ request: current, trace });
}
