import { readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { installRoot } from '../paths/install-root.js';
import { FileSerialStore, isBundleDocument, loadSignedBundle, type SerialStore } from './signed-bundle.js';
import type { CordonPaths } from '../paths/cordon-paths.js';
import type { Providers } from '../egress/egress-policy.js';
import type { CredentialsPolicy } from '../inspect/credentials-policy.js';
import {
  DEFAULT_POLICY,
  PolicySchema,
  describeZodIssues,
  type EffectivePolicy,
  type GatesPolicy,
  type ExportDestination,
  type PolicyDocument,
  type PolicyIssue,
  type PreApproval,
} from './policy-schema.js';

/**
 * Where a policy source sits in the precedence order, lowest first:
 * built-in defaults < user settings < recommended managed < mandatory managed.
 */
export type PolicyLevel = 'user' | 'recommended' | 'managed';
const LEVEL_RANK: Record<PolicyLevel, number> = { user: 1, recommended: 2, managed: 3 };

/** A policy source after it was read and validated. */
export interface PolicySource {
  readonly kind: PolicyLevel;
  /** File (or registry key / plist) it came from, for messages and `policy show`. */
  readonly file: string;
  readonly document: PolicyDocument;
  /** The JSON as written, to tell a key that was set from one filled by a default. */
  readonly raw: unknown;
  /** Set when the source was a signed bundle that verified. */
  readonly signed?: { readonly keyId: string; readonly serial: number };
}

/** Which source set each leaf of the effective policy, and which leaves a user may not change. */
export interface PolicyOrigins {
  /** Dotted leaf path (`egress.mode`) to the highest source that set it; absent = built-in default. */
  readonly origins: ReadonlyMap<string, { readonly kind: PolicyLevel; readonly file: string }>;
  /** Leaves set by recommended or mandatory managed policy: users cannot override them. */
  readonly locked: ReadonlyMap<string, { readonly kind: PolicyLevel; readonly file: string }>;
}

export type PolicyLoadResult =
  | { readonly ok: true; readonly policy: EffectivePolicy; readonly sources: readonly PolicySource[]; readonly provenance: PolicyOrigins }
  | { readonly ok: false; readonly issues: readonly PolicyIssue[] };

/** Managed documents from the OS's own MDM channel (macOS managed preferences, Windows registry). */
export interface PlatformPolicySource {
  /** What to call it in messages (a path or registry key). */
  readonly name: string;
  /** Null when the platform has no such source configured. */
  read(): { ok: true; mandatory: unknown; recommended: unknown } | { ok: false; message: string } | null;
}

export interface PolicyLoadOptions {
  /** The OS MDM channel; none on Linux, where managed policy is files. */
  readonly platform?: PlatformPolicySource | null;
  /** Trusted Ed25519 public keys (PEM) for signed bundles; defaults to the build's and the managed trust folder's. */
  readonly trustedKeys?: readonly string[];
  /** Anti-rollback state; defaults to a file under $CORDON_HOME. */
  readonly serials?: SerialStore;
  readonly now?: Date;
}

/**
 * Reads every source, validates each, and merges them: built-in defaults <
 * user < recommended managed < mandatory managed. Managed policy lives in
 * `$CORDON_POLICY_DIR/{recommended,managed}/*.json` (and, on macOS and
 * Windows, the OS's MDM channel). When trusted keys are configured, every
 * managed file must be a signed bundle that verifies and is not a rollback.
 * Any malformed or badly signed source makes the whole load fail, naming the
 * file and the reason: launches stop; nothing falls back to defaults.
 */
export function loadPolicy(paths: CordonPaths, opts: PolicyLoadOptions = {}): PolicyLoadResult {
  const issues: PolicyIssue[] = [];
  const sources: PolicySource[] = [];

  const user = readSource(paths.userPolicyFile, 'user', issues);
  if (user) sources.push(user);

  const trusted = opts.trustedKeys ?? readTrustedKeys(paths, issues);
  const serials = opts.serials ?? new FileSerialStore(join(paths.home, 'policy-state'));
  const now = opts.now ?? new Date();
  for (const level of ['recommended', 'managed'] as const) {
    const dir = join(paths.policyDir, level);
    for (const name of listJsonFiles(dir, issues)) {
      const src = readManagedFile(join(dir, name), level, trusted, serials, now, issues);
      if (src) sources.push(src);
    }
  }
  const platform = opts.platform?.read() ?? null;
  if (platform && !platform.ok) issues.push({ source: opts.platform?.name ?? 'platform policy', path: '(root)', message: platform.message });
  if (platform?.ok) {
    for (const [level, doc] of [['recommended', platform.recommended], ['managed', platform.mandatory]] as const) {
      if (doc === null || doc === undefined) continue;
      const src = sourceFromJson(opts.platform?.name ?? 'platform policy', level, doc, issues);
      if (src) sources.push(src);
    }
  }
  if (issues.length > 0) return { ok: false, issues };
  return { ok: true, policy: mergePolicy(sources), sources, provenance: policyOrigins(sources) };
}

/** Trusted bundle keys: shipped with the build (`build/policy-trust/`) or deployed by IT (`$CORDON_POLICY_DIR/trust/`). */
function readTrustedKeys(paths: CordonPaths, issues: PolicyIssue[]): string[] {
  const keys: string[] = [];
  for (const dir of [join(installRoot(), 'build', 'policy-trust'), join(paths.policyDir, 'trust')]) {
    let names: string[];
    try {
      names = readdirSync(dir).filter((n) => n.endsWith('.pem')).sort();
    } catch {
      continue;
    }
    for (const n of names) {
      try {
        keys.push(readFileSync(join(dir, n), 'utf8'));
      } catch (err) {
        issues.push({ source: join(dir, n), path: '(root)', message: `cannot read trusted key: ${(err as NodeJS.ErrnoException).code ?? 'error'}` });
      }
    }
  }
  return keys;
}

function readManagedFile(file: string, level: PolicyLevel, trusted: readonly string[], serials: SerialStore, now: Date, issues: PolicyIssue[]): PolicySource | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    issues.push({ source: file, path: '(root)', message: code ? `cannot read: ${code}` : `not valid JSON: ${(err as Error).message}` });
    return undefined;
  }
  if (isBundleDocument(raw)) {
    const r = loadSignedBundle(file, trusted, serials, `${level}:${basename(file)}`, now);
    if (r.kind === 'deny') {
      issues.push({ source: r.file, path: '(root)', message: `signed policy refused (${r.reason}): ${r.message}` });
      return undefined;
    }
    const src = sourceFromJson(file, level, r.policy, issues);
    return src ? { ...src, signed: { keyId: r.keyId, serial: r.serial } } : undefined;
  }
  if (trusted.length > 0) {
    issues.push({ source: file, path: '(root)', message: 'unsigned managed policy while trusted signing keys are configured; deploy it as a bundle made by `cordon policy sign`' });
    return undefined;
  }
  return sourceFromJson(file, level, raw, issues);
}

function sourceFromJson(file: string, kind: PolicyLevel, raw: unknown, issues: PolicyIssue[]): PolicySource | undefined {
  const parsed = PolicySchema.safeParse(raw);
  if (!parsed.success) {
    issues.push(...describeZodIssues(file, parsed.error));
    return undefined;
  }
  return { kind, file, document: parsed.data, raw };
}

/** Leaves (dotted paths) of a raw JSON document: arrays and scalars are leaves. */
export function leafPaths(raw: unknown, prefix = ''): string[] {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return prefix === '' ? [] : [prefix];
  const out: string[] = [];
  for (const [k, v] of Object.entries(raw)) {
    if (k === '$schema') continue;
    out.push(...leafPaths(v, prefix === '' ? k : `${prefix}.${k}`));
  }
  return out;
}

/** The value at a dotted path, or undefined. */
export function valueAt(obj: Record<string, unknown>, path: string): unknown {
  let cur: unknown = obj;
  for (const k of path.split('.')) cur = typeof cur === 'object' && cur !== null ? (cur as Record<string, unknown>)[k] : undefined;
  return cur;
}

/** Which source set each leaf (highest precedence wins) and which leaves are locked by managed policy. */
export function policyOrigins(sources: readonly PolicySource[]): PolicyOrigins {
  const origins = new Map<string, { kind: PolicyLevel; file: string }>();
  const locked = new Map<string, { kind: PolicyLevel; file: string }>();
  for (const s of [...sources].sort((a, b) => LEVEL_RANK[a.kind] - LEVEL_RANK[b.kind])) {
    for (const leaf of leafPaths(s.raw)) {
      origins.set(leaf, { kind: s.kind, file: s.file });
      if (s.kind !== 'user') locked.set(leaf, { kind: s.kind, file: s.file });
    }
  }
  return { origins, locked };
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
 * Merges sources in precedence order: defaults < user < recommended < managed
 * (the higher wins for scalars). Deny lists and write-protected lists are
 * unions: no source can remove another's protection. Allow lists and allowed
 * ranges loosen the sandbox, so a higher level that sets one replaces what
 * lower levels set. `approvals` follows the same rule: `neverAllow` is a union,
 * `preApproved` an allow list (see {@link mergeApprovals}).
 */
export function mergePolicy(sources: readonly PolicySource[]): EffectivePolicy {
  const ordered = [...sources].sort((a, b) => LEVEL_RANK[a.kind] - LEVEL_RANK[b.kind]);
  let profile = DEFAULT_POLICY.sandbox.profile;
  let allowedProfiles: readonly string[] | null = DEFAULT_POLICY.sandbox.allowedProfiles;
  const deny = new Set<string>(DEFAULT_POLICY.workspaces.deny);
  // Folders users may mount: like every allowlist, a higher level replaces lower ones.
  let wsAllow: string[] | null = null;
  let wsAllowRank = 0;
  const writeProtected = new Set<string>(DEFAULT_POLICY.workspaces.writeProtected);
  const providers: Record<string, Providers[string]> = { ...DEFAULT_POLICY.providers };
  let mode = DEFAULT_POLICY.egress.mode;
  const egressDeny = new Set<string>(DEFAULT_POLICY.egress.deny);
  let allow: string[] | null = null;
  let allowRanges: string[] = [...DEFAULT_POLICY.egress.allowRanges];
  // Rank of the source that last set each loosening list: a higher level
  // replaces what lower ones set; the same level adds to it.
  let allowRank = 0;
  let rangesRank = 0;
  const resolve: Record<string, string | string[]> = { ...DEFAULT_POLICY.egress.resolve };
  // Inspection only tightens: every level's hosts are kept (a union, like deny).
  const inspect = new Set<string>(DEFAULT_POLICY.egress.inspect);
  let caFile: string | undefined = DEFAULT_POLICY.egress.caFile;
  let phantomTtlMinutes = DEFAULT_POLICY.keys.phantomTtlMinutes;
  // The dlp section is taken whole from the highest source that has one: its
  // rules interlock (destinations name detectors), so fields are not mixed.
  let dlp = DEFAULT_POLICY.dlp;
  const gates = new GatesMerge();
  // Per name, the highest level's entry wins whole (hosts, variable and format belong together).
  const credentials: Record<string, CredentialsPolicy[string]> = { ...DEFAULT_POLICY.credentials };
  for (const { document: d, raw, kind } of ordered) {
    Object.assign(credentials, d.credentials ?? {});
    if (d.keys?.phantomTtlMinutes !== undefined) phantomTtlMinutes = d.keys.phantomTtlMinutes;
    if (d.gates !== undefined) gates.add(d.gates);
    if (d.dlp !== undefined) dlp = d.dlp;
    if (d.sandbox?.profile !== undefined) profile = d.sandbox.profile;
    if (d.sandbox?.allowedProfiles !== undefined) allowedProfiles = d.sandbox.allowedProfiles;
    for (const p of d.workspaces?.deny ?? []) deny.add(p);
    if (d.workspaces?.allow !== undefined) {
      const r = LEVEL_RANK[kind];
      wsAllow = r > wsAllowRank ? [...d.workspaces.allow] : [...(wsAllow ?? []), ...d.workspaces.allow];
      wsAllowRank = r;
    }
    for (const p of d.workspaces?.writeProtected ?? []) writeProtected.add(p);
    Object.assign(providers, d.providers ?? {});
    const e = d.egress;
    if (e === undefined) continue;
    if (isSet(raw, 'egress', 'mode')) mode = e.mode;
    for (const h of e.deny) egressDeny.add(h);
    const rank = LEVEL_RANK[kind];
    if (isSet(raw, 'egress', 'allow')) {
      allow = rank > allowRank ? [...e.allow] : [...(allow ?? []), ...e.allow];
      allowRank = rank;
    }
    if (isSet(raw, 'egress', 'allowRanges')) {
      allowRanges = rank > rangesRank ? [...e.allowRanges] : [...allowRanges, ...e.allowRanges];
      rangesRank = rank;
    }
    Object.assign(resolve, e.resolve);
    for (const h of e.inspect) inspect.add(h);
    if (e.caFile !== undefined) caFile = e.caFile;
  }
  // The providers' API hosts are not added: vendors are reached through the
  // model route only, never a tunnel (see vendorHosts in egress-policy.ts).
  const effectiveAllow = allow ?? [];
  return {
    sandbox: { profile, allowedProfiles },
    workspaces: { allow: wsAllow, deny: [...deny], writeProtected: [...writeProtected] },
    egress: { mode, allow: [...new Set(effectiveAllow)], deny: [...egressDeny], allowRanges: [...new Set(allowRanges)], resolve, inspect: [...inspect], ...(caFile !== undefined ? { caFile } : {}) },
    providers,
    keys: { phantomTtlMinutes },
    dlp,
    credentials,
    approvals: mergeApprovals(ordered),
    gates: gates.result(),
    audit: { export: effectiveExport(ordered) },
    monitoring: effectiveMonitoring(ordered),
  };
}

/** `monitoring`: each field from the highest level that sets it; sensitiveFiles of every level added together (it only tightens). */
function effectiveMonitoring(ordered: readonly PolicySource[]): EffectivePolicy['monitoring'] {
  const m: { -readonly [K in keyof EffectivePolicy['monitoring']]: EffectivePolicy['monitoring'][K] } = { ...DEFAULT_POLICY.monitoring };
  const sensitive = new Set<string>();
  for (const { document: d } of ordered) {
    const s = d.monitoring;
    if (!s) continue;
    if (s.alerts !== undefined) m.alerts = s.alerts;
    if (s.quarantineOnAlert !== undefined) m.quarantineOnAlert = s.quarantineOnAlert;
    if (s.neutraliseSensitiveFiles !== undefined) m.neutraliseSensitiveFiles = s.neutraliseSensitiveFiles;
    for (const k of ['massChange', 'egressDenials', 'dlpFindings', 'modelRequests', 'phantomMisuse', 'clipboardTransfers'] as const) {
      const v = s[k];
      if (v !== undefined) m[k] = v;
    }
    for (const p of s.sensitiveFiles ?? []) sensitive.add(p);
  }
  m.sensitiveFiles = [...sensitive];
  return m;
}

/**
 * `audit.export`, whole from the highest level that sets it (destinations
 * interlock with their cursors; mixing levels would surprise). The legacy
 * `destination` becomes one more destination: a tcp:// or tls:// URL is
 * syslog, anything else a file path; `format: "cef"` makes it CEF (the
 * syslog MSG, or one line a record in the file), any other format the OCSF
 * JSON it always was.
 */
function effectiveExport(ordered: readonly PolicySource[]): EffectivePolicy['audit']['export'] {
  let section: NonNullable<NonNullable<PolicySource['document']['audit']>['export']> | undefined;
  for (const { document: d } of ordered) if (d.audit?.export !== undefined) section = d.audit.export;
  const base = DEFAULT_POLICY.audit.export;
  if (!section) return base;
  const destinations: ExportDestination[] = [...(section.destinations ?? [])];
  const legacy = section.destination;
  if (legacy !== undefined) {
    const format = section.format === 'cef' ? { format: 'cef' as const } : {};
    if (/^(tcp|tls):\/\/[^/\s:]+:\d{1,5}$/.test(legacy)) destinations.push({ type: 'syslog', name: 'legacy-syslog', url: legacy, ...format });
    else destinations.push({ type: 'file', name: 'legacy-file', path: legacy, ...format });
  }
  return { destinations, maxBacklogRecords: section.maxBacklogRecords ?? base.maxBacklogRecords };
}

/**
 * The `approvals` section. Scalars: the highest level that sets one wins.
 * `neverAllow` tightens, so every level's entries are kept (a union, like
 * `egress.deny`). `preApproved` loosens, so like `egress.allow` a higher level
 * that sets it replaces lower levels' entries and the same level adds to them.
 * Two more rules keep a pre-approval from undoing a managed decision through
 * the back door: file entries from below a level that sets `fileAccess:
 * "deny"` are dropped (the user cannot pre-approve what IT denies outright),
 * and so are network entries from below a level that sets `egress.allow` (a
 * pre-approval would otherwise be the "always" a locked allow list refuses).
 */
function mergeApprovals(ordered: readonly PolicySource[]): EffectivePolicy['approvals'] {
  const d = DEFAULT_POLICY.approvals;
  let { fileAccess, timeoutSeconds, maxRequestsPerMinute } = d;
  let fileDenyRank = 0;
  let egressAllowRank = 0;
  const neverAllow = new Map<string, EffectivePolicy['approvals']['neverAllow'][number]>();
  let pre: Array<{ entry: PreApproval; rank: number }> = [];
  let preRank = 0;
  for (const { document: doc, raw, kind } of ordered) {
    const rank = LEVEL_RANK[kind];
    if (isSet(raw, 'egress', 'allow')) egressAllowRank = rank;
    const a = doc.approvals;
    if (a === undefined) continue;
    if (a.fileAccess !== undefined) {
      fileAccess = a.fileAccess;
      if (a.fileAccess === 'deny') fileDenyRank = rank;
    }
    if (a.timeoutSeconds !== undefined) timeoutSeconds = a.timeoutSeconds;
    if (a.maxRequestsPerMinute !== undefined) maxRequestsPerMinute = a.maxRequestsPerMinute;
    for (const e of a.neverAllow ?? []) neverAllow.set(JSON.stringify([e.kind, e.target]), { kind: e.kind, target: e.target });
    if (a.preApproved !== undefined) {
      const mine = a.preApproved.map((e) => ({ entry: withoutUndefined(e), rank }));
      pre = rank > preRank ? mine : [...pre, ...mine];
      preRank = rank;
    }
  }
  const kept = new Map<string, PreApproval>();
  for (const { entry, rank } of pre) {
    if (entry.kind === 'file' && fileAccess === 'deny' && rank < fileDenyRank) continue;
    if (entry.kind === 'network' && rank < egressAllowRank) continue;
    kept.set(JSON.stringify([entry.kind, entry.target, entry.write ?? false, entry.workspaces ?? null]), entry);
  }
  return { fileAccess, timeoutSeconds, preApproved: [...kept.values()], neverAllow: [...neverAllow.values()], maxRequestsPerMinute };
}

/** A parsed entry without keys that zod left as undefined (exactOptionalPropertyTypes). */
function withoutUndefined(e: NonNullable<NonNullable<PolicyDocument['approvals']>['preApproved']>[number]): PreApproval {
  return {
    kind: e.kind,
    target: e.target,
    ...(e.write !== undefined ? { write: e.write } : {}),
    ...(e.workspaces !== undefined ? { workspaces: [...e.workspaces] } : {}),
  };
}

/**
 * The `gates` section merged like the rest: each scalar from the highest
 * source that sets it (fed lowest first), block lists joined, so no source
 * can unblock what another blocks.
 */
class GatesMerge {
  private clipboard: { -readonly [K in keyof GatesPolicy['clipboard']]: GatesPolicy['clipboard'][K] } = { ...DEFAULT_POLICY.gates.clipboard };
  private dragDrop = { ...DEFAULT_POLICY.gates.dragDrop, blockTypes: new Set(DEFAULT_POLICY.gates.dragDrop.blockTypes), blockLabels: new Set(DEFAULT_POLICY.gates.dragDrop.blockLabels) };

  add(g: NonNullable<PolicyDocument['gates']>): void {
    const c = g.clipboard;
    if (c?.toSandbox !== undefined) this.clipboard.toSandbox = c.toSandbox;
    if (c?.fromSandbox !== undefined) this.clipboard.fromSandbox = c.fromSandbox;
    if (c?.maxBytes !== undefined) this.clipboard.maxBytes = c.maxBytes;
    if (c?.ratePerMinute !== undefined) this.clipboard.ratePerMinute = c.ratePerMinute;
    const f = g.dragDrop;
    if (f?.toSandbox !== undefined) this.dragDrop.toSandbox = f.toSandbox;
    if (f?.fromSandbox !== undefined) this.dragDrop.fromSandbox = f.fromSandbox;
    if (f?.maxBytes !== undefined) this.dragDrop.maxBytes = f.maxBytes;
    for (const t of f?.blockTypes ?? []) this.dragDrop.blockTypes.add(t.toLowerCase());
    for (const l of f?.blockLabels ?? []) this.dragDrop.blockLabels.add(l);
  }

  result(): GatesPolicy {
    return { clipboard: { ...this.clipboard }, dragDrop: { ...this.dragDrop, blockTypes: [...this.dragDrop.blockTypes], blockLabels: [...this.dragDrop.blockLabels] } };
  }
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
