/**
 * The `egress` and `providers` policy keys (issue 3, item 3): zod schemas that
 * are the source of truth for their types, pattern validation at load, the
 * default telemetry deny list, and compilation into the form the proxy checks.
 */
import { z } from 'zod';
import { parseHostPattern, normaliseHost, type HostPattern, type HostRules } from './host-match.js';
import { parseCidr, type Cidr, type IpAddress } from '../net/ip-address.js';
import { parseIp } from './ip-address.js';

/** A host entry that is validated at load, so an over-broad pattern never reaches a running proxy. */
const hostPatternString = z.string().superRefine((value, ctx) => {
  const r = parseHostPattern(value);
  if (!r.ok) ctx.addIssue({ code: 'custom', message: r.why });
});

const cidrString = z.string().superRefine((value, ctx) => {
  const c = parseCidr(value);
  if (!c) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a CIDR range like 127.0.0.0/8 or ::1/128` });
  } else if (c.prefix === 0) {
    // A /0 would switch off every address check, including loopback and private ranges.
    ctx.addIssue({ code: 'custom', message: `"${value}" would allow every address; name the ranges you need` });
  }
});

const pinnedAddress = z.string().superRefine((value, ctx) => {
  if (!parseIp(value)) ctx.addIssue({ code: 'custom', message: `"${value}" is not an IP address` });
});

/** Schema of the `egress` policy key. */
export const EgressPolicySchema = z
  .strictObject({
    mode: z
      .enum(['enforce', 'report', 'ask'])
      .default('enforce')
      .describe(
        '"enforce" refuses what the policy does not allow; "report" lets it through but records a would-deny audit event (cloud metadata addresses stay blocked in both); "ask" holds a request to a host the allow list does not name while the user is asked (`cordon approvals`, the app; up to approvals.timeoutSeconds), then lets it through or refuses it; approvals.preApproved and approvals.neverAllow answer without asking. A host on the deny list and a blocked address are refused without asking.',
      ),
    allow: z
      .array(hostPatternString)
      .default([])
      .describe(
        'Hosts the agent may reach. "host" allows ports 443 and 80, "host:port" that port only, "*.example.com" its subdomains but not example.com itself. Empty: nothing is allowed.',
      ),
    deny: z
      .array(hostPatternString)
      .default([])
      .describe('Hosts refused even when "allow" matches; checked first. An entry without a port denies every port.'),
    allowRanges: z
      .array(cidrString)
      .default([])
      .describe(
        'CIDR ranges the proxy may dial although they are loopback, private, link-local or otherwise blocked (e.g. "127.0.0.0/8" for a local test server). Cloud metadata addresses open only to a range naming that exact address.',
      ),
    resolve: z
      .record(z.string(), z.union([pinnedAddress, z.array(pinnedAddress).min(1)]))
      .default({})
      .describe('Pins host names to addresses instead of asking DNS, like curl --resolve. Pinned addresses are still checked.'),
    inspect: z
      .array(hostPatternString)
      .default([])
      .describe(
        'Hosts whose HTTPS tunnels the proxy opens (TLS inspection with the per-install Cordon CA, which only sandboxes trust) so DLP scans what is sent and phantom credentials can be swapped; same syntax as "allow", and an entry without a port inspects every port. It never allows a host by itself: the host must also be allowed. Lists of every policy level are added together. Empty: every tunnel stays opaque.',
      ),
    caFile: z
      .string()
      .min(1)
      .optional()
      .describe('PEM file of extra CA certificates (a corporate root, a test CA) the proxy trusts, besides the system store, when it connects to an inspected host.'),
  })
  .describe('What may leave the sandbox over the network, and how destinations are checked.');

/** The `egress` key after parsing (defaults applied). */
export type EgressPolicy = z.infer<typeof EgressPolicySchema>;

/** Schema of one model provider. */
export const ProviderSchema = z
  .strictObject({
    baseUrl: z
      .url({ protocol: /^https$/ })
      .describe('HTTPS base URL the model route forwards to, e.g. "https://api.anthropic.com". TLS is always verified.'),
    caFile: z
      .string()
      .min(1)
      .optional()
      .describe('PEM file of extra CA certificates trusted for this provider, in addition to the system CAs.'),
    credentialCommand: z
      .array(z.string().min(1))
      .min(1)
      .optional()
      .describe(
        'Command (program and arguments, no shell) printing {"token": "...", "expiresAt": "<ISO 8601>"}, like AWS credential_process. When set, its short-lived token is injected instead of the key stored in the OS keychain; kept in memory only and refreshed before it expires.',
      ),
  })
  .describe('A model API the proxy forwards /model/<name>/ requests to.');

/** Schema of the `providers` policy key: provider name to its settings. */
export const ProvidersSchema = z
  .record(z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'provider names are lower-case letters, digits and "-"'), ProviderSchema)
  .describe('Model providers reachable through the model route at /model/<name>/.');

export type ProviderConfig = z.infer<typeof ProviderSchema>;
export type Providers = z.infer<typeof ProvidersSchema>;

/** A deny-list entry with what it is, so a reviewer can see why it is there. */
export interface DescribedHost {
  readonly host: string;
  readonly description: string;
}

/**
 * Vendor telemetry and error-reporting hosts denied by default, even where the
 * vendor's own domain is allowed (issue 3, item 8): they carry usage data and
 * crash reports (which can include prompts and file paths) off the machine.
 */
export const DEFAULT_TELEMETRY_DENY: readonly DescribedHost[] = [
  { host: 'statsig.anthropic.com', description: 'Statsig feature-flag and usage analytics used by Claude Code' },
  { host: 'statsig.com', description: 'Statsig analytics service (apex)' },
  { host: '*.statsig.com', description: 'Statsig analytics API and event ingestion' },
  { host: 'featuregates.org', description: 'Statsig feature-gate endpoint (apex)' },
  { host: '*.featuregates.org', description: 'Statsig feature-gate endpoints' },
  { host: 'sentry.io', description: 'Sentry error reporting (apex)' },
  { host: '*.sentry.io', description: 'Sentry error reporting, including *.ingest.sentry.io crash upload' },
  { host: '*.datadoghq.com', description: 'Datadog metrics, logs and RUM intake (US)' },
  { host: '*.datadoghq.eu', description: 'Datadog metrics, logs and RUM intake (EU)' },
  { host: 'browser-intake-datadoghq.com', description: 'Datadog browser RUM intake' },
  { host: '*.segment.io', description: 'Segment product analytics' },
  { host: '*.segment.com', description: 'Segment product analytics CDN and API' },
  { host: '*.amplitude.com', description: 'Amplitude product analytics' },
  { host: '*.mixpanel.com', description: 'Mixpanel product analytics' },
  { host: '*.bugsnag.com', description: 'Bugsnag error reporting' },
  { host: '*.honeycomb.io', description: 'Honeycomb tracing and telemetry' },
  { host: '*.nr-data.net', description: 'New Relic telemetry ingestion' },
  { host: '*.posthog.com', description: 'PostHog product analytics' },
  { host: 'dc.services.visualstudio.com', description: 'Azure Application Insights telemetry (VS Code family)' },
  { host: '*.applicationinsights.azure.com', description: 'Azure Application Insights ingestion' },
  { host: 'firebaselogging-pa.googleapis.com', description: 'Google Firebase client logging' },
];

/** The provider used when a policy names none. */
export const DEFAULT_PROVIDERS: Providers = {
  anthropic: { baseUrl: 'https://api.anthropic.com' },
};

/**
 * The default egress policy: enforce, allow nothing, deny the telemetry list,
 * no extra ranges, no pinned names. The model vendors are not on the allow
 * list: they are reached through the model route only (see vendorHosts).
 */
export function defaultEgressPolicy(): EgressPolicy {
  return {
    mode: 'enforce',
    allow: [],
    deny: DEFAULT_TELEMETRY_DENY.map((d) => d.host),
    allowRanges: [],
    resolve: {},
    inspect: [],
  };
}

/**
 * The model vendors' API hosts: every provider's base URL host and the
 * built-in provider's, normalised (lower-case punycode, no port). The proxy
 * refuses CONNECT and plain-HTTP requests to these whatever `egress.allow`
 * says (issue 12): a tunnel to the vendor carries no phantom check and no DLP,
 * so a prompt-injected agent could use an attacker's own API key through it
 * and upload the workspace to the attacker's account. The one way to a vendor
 * is the model route, where the request is scanned and carries this session's
 * key. Derived here, once per provider table.
 */
export function vendorHosts(providers: Providers): ReadonlySet<string> {
  const hosts = new Set<string>();
  for (const p of [...Object.values(DEFAULT_PROVIDERS), ...Object.values(providers)]) {
    const n = providerHost(p.baseUrl);
    if (n.ok) hosts.add(n.host);
  }
  return hosts;
}

/**
 * The host a provider's base URL names, as the proxy and the phantom binding
 * compare hosts: lower-case punycode, no port, no trailing dot, an IPv6
 * literal without brackets and in RFC 5952 form. The one derivation of a
 * provider's host; `why` when the URL or its host is not usable.
 */
export function providerHost(baseUrl: string): { readonly ok: true; readonly host: string } | { readonly ok: false; readonly why: string } {
  let hostname: string;
  try {
    hostname = new URL(baseUrl).hostname;
  } catch {
    return { ok: false, why: 'not a URL' };
  }
  const n = normaliseHost(hostname);
  return n.ok ? { ok: true, host: n.host } : { ok: false, why: n.why };
}

/** One provider's model route, derived once from its base URL (issue 14, item 2). */
export interface ModelRoute {
  readonly config: ProviderConfig;
  /** Normalised host, as the proxy and the phantom binding compare hosts (providerHost). */
  readonly host: string;
  /** The URL's hostname as written (an IPv6 literal keeps its brackets): what the proxy dials and checks. */
  readonly dialHost: string;
  readonly port: number;
  /** The base URL's path without a trailing slash; the agent's path is appended to it. */
  readonly basePath: string;
  /** The Host header the vendor gets (host and port as the base URL has them). */
  readonly hostHeader: string;
}

/** Every provider's route, and the vendors' hosts refused outside the model route. */
export interface ModelRoutes {
  readonly routes: ReadonlyMap<string, ModelRoute>;
  readonly vendorHosts: ReadonlySet<string>;
}

/**
 * Compiles the provider table once per effective policy. A provider whose
 * base URL names no usable host is an error, not skipped: the proxy would
 * otherwise not know to keep tunnels away from that vendor. Pure.
 */
export function compileModelRoutes(providers: Providers): { readonly ok: true; readonly value: ModelRoutes } | { readonly ok: false; readonly errors: readonly string[] } {
  const routes = new Map<string, ModelRoute>();
  const errors: string[] = [];
  for (const [name, config] of Object.entries(providers)) {
    const h = providerHost(config.baseUrl);
    if (!h.ok) {
      errors.push(`providers.${name}.baseUrl: ${h.why}`);
      continue;
    }
    const url = new URL(config.baseUrl);
    routes.set(name, { config, host: h.host, dialHost: url.hostname, port: url.port === '' ? 443 : Number(url.port), basePath: url.pathname.replace(/\/$/, ''), hostHeader: url.host });
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, value: { routes, vendorHosts: vendorHosts(providers) } };
}

/** The routes of a provider table known to be valid (the built-in one, tests'): throws on a bad base URL. */
export function modelRoutesOf(providers: Providers): ModelRoutes {
  const r = compileModelRoutes(providers);
  if (!r.ok) throw new Error(`invalid providers: ${r.errors.join('; ')}`);
  return r.value;
}

/** An egress policy in the form the proxy evaluates on every connection. */
export interface CompiledEgressPolicy extends HostRules {
  readonly mode: 'enforce' | 'report' | 'ask';
  readonly allowRanges: readonly Cidr[];
  /** Normalised host name to pinned addresses, in the order given. */
  readonly resolve: ReadonlyMap<string, readonly IpAddress[]>;
  /** Hosts whose tunnels are opened for inspection (see {@link inspectMatch}); absent = none. */
  readonly inspect?: readonly HostPattern[];
  /** Extra CA file trusted toward inspected hosts; null = the system store only. */
  readonly caFile?: string | null;
}

/** Compile result: the policy, or every problem found (for a message a person can act on). */
export type CompileResult = { readonly ok: true; readonly policy: CompiledEgressPolicy } | { readonly ok: false; readonly errors: readonly string[] };

/**
 * Validates raw input against {@link EgressPolicySchema} and compiles it. Accepts
 * untrusted input (a policy file, an IPC message); never throws.
 */
export function compileEgressPolicy(input: unknown): CompileResult {
  const parsed = EgressPolicySchema.safeParse(input);
  if (!parsed.success) {
    return { ok: false, errors: parsed.error.issues.map((i) => `egress.${i.path.join('.')}: ${i.message}`) };
  }
  return compileEgressRules(parsed.data);
}

/**
 * Compiles an already parsed `egress` key (an effective policy's): every host
 * pattern, range and pinned name is parsed here, once. A problem is reported
 * once, with its path (`egress.allow.2: …`). Never throws.
 */
export function compileEgressRules(p: EgressPolicy): CompileResult {
  const errors: string[] = [];
  const patterns = (key: 'allow' | 'deny' | 'inspect'): HostPattern[] =>
    p[key].flatMap((entry, i) => {
      const r = parseHostPattern(entry);
      if (r.ok) return [r.pattern];
      errors.push(`egress.${key}.${i}: ${r.why}`);
      return [];
    });
  const allow = patterns('allow');
  const deny = patterns('deny');
  const inspect = patterns('inspect');
  const allowRanges = p.allowRanges.flatMap((text, i) => {
    const c = parseCidr(text);
    // A /0 would switch off every address check (the schema says so at load; this holds for any caller).
    if (c && c.prefix > 0) return [c];
    errors.push(`egress.allowRanges.${i}: "${text}" is not a CIDR range like 127.0.0.0/8 or ::1/128, or allows every address`);
    return [];
  });
  const resolve = new Map<string, IpAddress[]>();
  for (const [name, value] of Object.entries(p.resolve)) {
    const n = normaliseHost(name);
    if (!n.ok || n.isIp) {
      errors.push(`egress.resolve: "${name}" is not a host name`);
      continue;
    }
    const addrs = (Array.isArray(value) ? value : [value]).map((v) => parseIp(v)).filter((a): a is IpAddress => a !== null);
    resolve.set(n.host, addrs);
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, policy: { mode: p.mode, allow, deny, allowRanges, resolve, inspect, caFile: p.caFile ?? null } };
}
