import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { CordonPaths } from '../paths/cordon-paths.js';
import type { Providers } from '../egress/egress-policy.js';
import {
  DEFAULT_POLICY,
  PolicySchema,
  describeZodIssues,
  type EffectivePolicy,
  type PolicyDocument,
  type PolicyIssue,
} from './policy-schema.js';

/** A policy source after it was read and validated. */
export interface PolicySource {
  readonly kind: 'user' | 'managed';
  readonly file: string;
  readonly document: PolicyDocument;
  /** The JSON as written, to tell a key that was set from one filled by a default. */
  readonly raw: unknown;
}

export type PolicyLoadResult =
  | { readonly ok: true; readonly policy: EffectivePolicy; readonly sources: readonly PolicySource[] }
  | { readonly ok: false; readonly issues: readonly PolicyIssue[] };

/**
 * Reads user settings and every managed file, validates each, and merges them:
 * built-in defaults < user < managed. Any malformed source makes the whole load
 * fail: a broken managed file must stop launches, never fall back to defaults.
 * A missing user file or managed folder is simply absent.
 */
export function loadPolicy(paths: CordonPaths): PolicyLoadResult {
  const issues: PolicyIssue[] = [];
  const sources: PolicySource[] = [];

  const user = readSource(paths.userPolicyFile, 'user', issues);
  if (user) sources.push(user);

  const managedDir = join(paths.policyDir, 'managed');
  for (const name of listJsonFiles(managedDir, issues)) {
    const src = readSource(join(managedDir, name), 'managed', issues);
    if (src) sources.push(src);
  }
  if (issues.length > 0) return { ok: false, issues };
  return { ok: true, policy: mergePolicy(sources), sources };
}

/** Validates one policy file without merging; used by `cordon policy validate`. */
export function validatePolicyFile(file: string): PolicyIssue[] {
  const issues: PolicyIssue[] = [];
  const src = readSource(file, 'user', issues, { required: true });
  if (!src && issues.length === 0) issues.push({ source: file, path: '(root)', message: 'file not found' });
  return issues;
}

/** Parses a policy document from text; pure, used by the loader and tests. */
export function parsePolicyText(source: string, text: string): { ok: true; document: PolicyDocument; raw: unknown } | { ok: false; issues: PolicyIssue[] } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { ok: false, issues: [{ source, path: '(root)', message: `not valid JSON: ${(err as Error).message}` }] };
  }
  const parsed = PolicySchema.safeParse(raw);
  if (!parsed.success) return { ok: false, issues: describeZodIssues(source, parsed.error) };
  return { ok: true, document: parsed.data, raw };
}

/**
 * Merges sources in precedence order: defaults < user < managed (later wins for
 * scalars). Deny lists and write-protected lists are unions: no source can
 * remove another's protection. Allow lists and allowed ranges loosen the
 * sandbox, so a managed source that sets one replaces what users set.
 */
export function mergePolicy(sources: readonly PolicySource[]): EffectivePolicy {
  const ordered = [...sources.filter((s) => s.kind === 'user'), ...sources.filter((s) => s.kind === 'managed')];
  let profile = DEFAULT_POLICY.sandbox.profile;
  let allowedProfiles: readonly string[] | null = DEFAULT_POLICY.sandbox.allowedProfiles;
  const deny = new Set<string>(DEFAULT_POLICY.workspaces.deny);
  const writeProtected = new Set<string>(DEFAULT_POLICY.workspaces.writeProtected);
  const providers: Record<string, Providers[string]> = { ...DEFAULT_POLICY.providers };
  let mode = DEFAULT_POLICY.egress.mode;
  const egressDeny = new Set<string>(DEFAULT_POLICY.egress.deny);
  let allow: string[] | null = null;
  let allowRanges: string[] = [...DEFAULT_POLICY.egress.allowRanges];
  let managedAllow = false;
  let managedRanges = false;
  const resolve: Record<string, string | string[]> = { ...DEFAULT_POLICY.egress.resolve };
  let phantomTtlMinutes = DEFAULT_POLICY.keys.phantomTtlMinutes;
  // The dlp section is taken whole from the highest source that has one: its
  // rules interlock (destinations name detectors), so fields are not mixed.
  let dlp = DEFAULT_POLICY.dlp;
  for (const { document: d, raw, kind } of ordered) {
    if (d.keys?.phantomTtlMinutes !== undefined) phantomTtlMinutes = d.keys.phantomTtlMinutes;
    if (d.dlp !== undefined) dlp = d.dlp;
    if (d.sandbox?.profile !== undefined) profile = d.sandbox.profile;
    if (d.sandbox?.allowedProfiles !== undefined) allowedProfiles = d.sandbox.allowedProfiles;
    for (const p of d.workspaces?.deny ?? []) deny.add(p);
    for (const p of d.workspaces?.writeProtected ?? []) writeProtected.add(p);
    Object.assign(providers, d.providers ?? {});
    const e = d.egress;
    if (e === undefined) continue;
    if (isSet(raw, 'egress', 'mode')) mode = e.mode;
    for (const h of e.deny) egressDeny.add(h);
    if (isSet(raw, 'egress', 'allow')) {
      if (kind === 'managed') {
        allow = managedAllow ? [...(allow ?? []), ...e.allow] : [...e.allow];
        managedAllow = true;
      } else if (!managedAllow) {
        allow = [...(allow ?? []), ...e.allow];
      }
    }
    if (isSet(raw, 'egress', 'allowRanges')) {
      if (kind === 'managed') {
        allowRanges = managedRanges ? [...allowRanges, ...e.allowRanges] : [...e.allowRanges];
        managedRanges = true;
      } else if (!managedRanges) {
        allowRanges = [...allowRanges, ...e.allowRanges];
      }
    }
    Object.assign(resolve, e.resolve);
  }
  // The providers' API hosts stay reachable unless a managed allowlist says otherwise.
  const providerHosts = Object.values(providers).map((p) => new URL(p.baseUrl).host);
  const effectiveAllow = managedAllow ? (allow ?? []) : [...providerHosts, ...(allow ?? [])];
  return {
    sandbox: { profile, allowedProfiles },
    workspaces: { deny: [...deny], writeProtected: [...writeProtected] },
    egress: { mode, allow: [...new Set(effectiveAllow)], deny: [...egressDeny], allowRanges: [...new Set(allowRanges)], resolve },
    providers,
    keys: { phantomTtlMinutes },
    dlp,
  };
}

function isSet(raw: unknown, ...path: string[]): boolean {
  let cur: unknown = raw;
  for (const key of path) {
    if (typeof cur !== 'object' || cur === null || !(key in cur)) return false;
    cur = (cur as Record<string, unknown>)[key];
  }
  return true;
}

function readSource(
  file: string,
  kind: PolicySource['kind'],
  issues: PolicyIssue[],
  opts: { required?: boolean } = {},
): PolicySource | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !opts.required) return undefined;
    issues.push({ source: file, path: '(root)', message: `cannot read: ${code ?? (err as Error).message}` });
    return undefined;
  }
  const res = parsePolicyText(file, text);
  if (!res.ok) {
    issues.push(...res.issues);
    return undefined;
  }
  return { kind, file, document: res.document, raw: res.raw };
}

function listJsonFiles(dir: string, issues: PolicyIssue[]): string[] {
  try {
    return readdirSync(dir)
      .filter((n) => n.endsWith('.json'))
      .sort();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return [];
    issues.push({ source: dir, path: '(root)', message: `cannot list managed policy folder: ${code ?? 'error'}` });
    return [];
  }
}
