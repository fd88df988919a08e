/**
 * An effective policy compiled once (issue 14, item 2): the egress rules the
 * proxy evaluates, the model vendors' hosts, each provider's host and the DLP
 * scanner configuration. A session compiles its policy at start and again on
 * each live reload, and hands these values on; nothing downstream parses
 * `egress.allow` or a provider's base URL again.
 */
import { compileDlpPolicy, type CompiledDlpPolicy } from '../dlp/policy.js';
import { compileEgressRules, compileModelRoutes, type CompiledEgressPolicy, type ModelRoutes } from '../egress/egress-policy.js';
import type { EffectivePolicy } from './policy-schema.js';

export interface CompiledPolicy {
  /** The policy it was compiled from. */
  readonly effective: EffectivePolicy;
  readonly egress: CompiledEgressPolicy;
  /**
   * Hosts the proxy reaches only through the model route: every provider's
   * host and the built-in provider's (see vendorHosts in egress-policy.ts).
   */
  readonly vendorHosts: ReadonlySet<string>;
  /** Provider name to its API host (providerHost in egress-policy.ts: lower case, no port, no trailing dot, IPv6 without brackets). */
  readonly providerHosts: ReadonlyMap<string, string>;
  /** Each provider's route (host, port, base path, TLS settings) for the proxy's model route. */
  readonly modelRoutes: ModelRoutes;
  readonly dlp: CompiledDlpPolicy;
}

/** The compiled policy, or every problem, each once and with its path (`egress.allow.0: …`). */
export type CompilePolicyResult = { readonly ok: true; readonly policy: CompiledPolicy } | { readonly ok: false; readonly errors: readonly string[] };

/**
 * Compiles an effective policy (already schema-checked by the loader). A
 * provider whose base URL names no usable host is an error, not skipped: the
 * proxy would otherwise not know to keep tunnels away from that vendor.
 * Pure; never throws.
 */
export function compilePolicy(effective: EffectivePolicy): CompilePolicyResult {
  const errors: string[] = [];
  const egress = compileEgressRules(effective.egress);
  if (!egress.ok) errors.push(...egress.errors);
  const routes = compileModelRoutes(effective.providers);
  if (!routes.ok) errors.push(...routes.errors);
  if (!egress.ok || !routes.ok) return { ok: false, errors };
  const modelRoutes = routes.value;
  const providerHosts = new Map([...modelRoutes.routes].map(([name, r]) => [name, r.host]));
  return {
    ok: true,
    policy: { effective, egress: egress.policy, vendorHosts: modelRoutes.vendorHosts, providerHosts, modelRoutes, dlp: compileDlpPolicy(effective.dlp) },
  };
}
