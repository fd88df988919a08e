import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { CordonPaths } from '../paths/cordon-paths.js';
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
export function parsePolicyText(source: string, text: string): { ok: true; document: PolicyDocument } | { ok: false; issues: PolicyIssue[] } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { ok: false, issues: [{ source, path: '(root)', message: `not valid JSON: ${(err as Error).message}` }] };
  }
  const parsed = PolicySchema.safeParse(raw);
  if (!parsed.success) return { ok: false, issues: describeZodIssues(source, parsed.error) };
  return { ok: true, document: parsed.data };
}

/**
 * Merges sources in precedence order (later wins for scalars). Deny lists and
 * write-protected lists are unions: no source can remove another's protection.
 */
export function mergePolicy(sources: readonly PolicySource[]): EffectivePolicy {
  const ordered = [...sources.filter((s) => s.kind === 'user'), ...sources.filter((s) => s.kind === 'managed')];
  let profile = DEFAULT_POLICY.sandbox.profile;
  let allowedProfiles: readonly string[] | null = DEFAULT_POLICY.sandbox.allowedProfiles;
  const deny = new Set<string>(DEFAULT_POLICY.workspaces.deny);
  const writeProtected = new Set<string>(DEFAULT_POLICY.workspaces.writeProtected);
  for (const { document: d } of ordered) {
    if (d.sandbox?.profile !== undefined) profile = d.sandbox.profile;
    if (d.sandbox?.allowedProfiles !== undefined) allowedProfiles = d.sandbox.allowedProfiles;
    for (const p of d.workspaces?.deny ?? []) deny.add(p);
    for (const p of d.workspaces?.writeProtected ?? []) writeProtected.add(p);
  }
  return {
    sandbox: { profile, allowedProfiles },
    workspaces: { deny: [...deny], writeProtected: [...writeProtected] },
  };
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
  return { kind, file, document: res.document };
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
