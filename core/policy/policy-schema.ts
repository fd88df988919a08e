import { z } from 'zod';
import { DlpPolicySchema, DEFAULT_DLP_POLICY, type DlpPolicy } from '../dlp/policy.js';
import { parseHostPattern } from '../egress/host-match.js';
import { CredentialsPolicySchema, type CredentialsPolicy } from '../inspect/credentials-policy.js';
import { EgressPolicySchema, ProvidersSchema, defaultEgressPolicy, DEFAULT_PROVIDERS, type EgressPolicy, type Providers } from '../egress/egress-policy.js';

/**
 * Cordon's policy, first version: the one zod schema that user settings
 * (`$CORDON_HOME/policy.json`) and managed MDM files (`$CORDON_POLICY_DIR/managed/*.json`)
 * are validated against. Unknown keys are rejected with their path, so a typo in
 * a managed file cannot silently weaken a control.
 */

const relativeProtectedPath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith('/') && !p.split('/').includes('..'), {
    message: 'must be a path relative to the workspace root, without ".."',
  });

export const WorkspacesPolicySchema = z
  .strictObject({
    allow: z
      .array(z.string().min(1))
      .optional()
      .describe('If set, only folders inside one of these (absolute, or starting with "~/") may be mounted as workspaces. Absent: any folder the deny rules do not refuse.'),
    deny: z
      .array(z.string().min(1))
      .optional()
      .describe('Extra host folders that may never be mounted (absolute, or starting with "~/"). Added to the built-in credential-store and system-area rules, never replacing them.'),
    writeProtected: z
      .array(relativeProtectedPath)
      .optional()
      .describe('Extra workspace-relative paths that stay read-only inside writable mounts (a trailing "/" marks a folder). Added to the profile list.'),
  })
  .describe('Which host folders a session may mount, and what stays write-protected inside them.');

export const SandboxPolicySchema = z
  .strictObject({
    profile: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,62}$/, 'a profile name: lowercase letters, digits and "-"')
      .optional()
      .describe('Profile used when none is named on the command line (built-in: "standard", "strict").'),
    allowedProfiles: z
      .array(z.string().min(1))
      .optional()
      .describe('If set, only these profiles may be launched. An empty list allows none.'),
  })
  .describe('Sandbox choice.');

const GATE_ACTION = z.enum(['allow', 'scan', 'redact', 'ask', 'deny']);

/** File extensions (".exe") or MIME types ("application/x-msdownload"); matched case-insensitively. */
const blockedType = z
  .string()
  .regex(/^(\.[A-Za-z0-9][A-Za-z0-9._+-]{0,31}|[a-z0-9][a-z0-9.+-]{0,63}\/[a-z0-9*][a-z0-9.+*-]{0,127})$/i, 'a file extension starting with "." (".exe") or a MIME type ("application/zip")');

/** A Microsoft sensitivity label: its display name, or its GUID. */
const sensitivityLabel = z.string().min(1).max(200);

/**
 * The gate (issue 18, `core/gate/`): what a person moves across the sandbox
 * wall by hand. Each mode means: allow = pass unchanged, unscanned; scan =
 * DLP-scan the text and apply the `dlp` section's action per finding
 * (redact or tokenize become a redaction, block refuses the transfer), clean
 * text passes; redact = DLP-scan and redact every finding (block still
 * refuses); ask = ask the user through the approval queue (no answer is a
 * refusal); deny = refuse. Credential stores, system areas and Cordon's own
 * state are refused as file sources in every mode.
 */
export const GatesPolicySchema = z
  .strictObject({
    clipboard: z
      .strictObject({
        toSandbox: GATE_ACTION.optional().describe('Host clipboard read by the agent, and text pasted into the agent\'s terminal (bracketed paste): allow, scan, redact, ask, or deny. Default scan.'),
        fromSandbox: GATE_ACTION.optional().describe('Text the agent copies out to the host clipboard. Default redact.'),
        maxBytes: z.number().int().positive().max(16 * 1024 * 1024).optional().describe('Largest clipboard payload or terminal paste considered; larger is denied. Default 1048576 (1 MiB).'),
        ratePerMinute: z.number().int().min(1).max(6000).optional().describe('Clipboard transfers one session may make per minute in each direction; more are denied and audited. Terminal paste is not counted (a person does it). Default 60.'),
      })
      .optional()
      .describe('Clipboard gate, also applied to paste into the agent\'s terminal.'),
    dragDrop: z
      .strictObject({
        toSandbox: GATE_ACTION.optional().describe('Files dropped into a session (the app, `cordon drop`). Default scan.'),
        fromSandbox: GATE_ACTION.optional().describe('Files taken out of a session (the app, `cordon take`). Default redact.'),
        maxBytes: z.number().int().positive().max(1024 * 1024 * 1024).optional().describe('Largest file moved in either direction; larger is denied. Default 67108864 (64 MiB).'),
        blockTypes: z.array(blockedType).max(256).optional().describe('File extensions (".exe") or MIME types ("application/zip") never moved in either direction. Lists from every source are joined. Default none.'),
        blockLabels: z.array(sensitivityLabel).max(256).optional().describe('Microsoft sensitivity labels (display name or GUID, case-insensitive) whose files are never moved in either direction. Lists from every source are joined. Default none.'),
      })
      .optional()
      .describe('Drag-and-drop gate (`cordon drop`, `cordon take`, and the app).'),
  })
  .describe('The gate: clipboard, terminal paste and drag-and-drop across the sandbox wall.');

/** Gate modes, see {@link GatesPolicySchema}. */
export type GateMode = z.infer<typeof GATE_ACTION>;

/** The `gates` section with every field filled in. */
export interface GatesPolicy {
  readonly clipboard: { readonly toSandbox: GateMode; readonly fromSandbox: GateMode; readonly maxBytes: number; readonly ratePerMinute: number };
  readonly dragDrop: {
    readonly toSandbox: GateMode;
    readonly fromSandbox: GateMode;
    readonly maxBytes: number;
    readonly blockTypes: readonly string[];
    readonly blockLabels: readonly string[];
  };
}

export const DEFAULT_GATES_POLICY: GatesPolicy = {
  clipboard: { toSandbox: 'scan', fromSandbox: 'redact', maxBytes: 1024 * 1024, ratePerMinute: 60 },
  dragDrop: { toSandbox: 'scan', fromSandbox: 'redact', maxBytes: 64 * 1024 * 1024, blockTypes: [], blockLabels: [] },
};

/** Defaults of the `approvals` section (issue 17), also the values `policy show` reports as "default". */
export const DEFAULT_APPROVALS = {
  fileAccess: 'ask',
  timeoutSeconds: 60,
  maxRequestsPerMinute: 20,
} as const;

/**
 * Why a file target in `approvals.preApproved` / `neverAllow` (or a scope
 * folder) is unusable, or null. It must be absolute or start with "~/". It is
 * compared literally (after "~/" is expanded) with host realpaths, so "." and
 * ".." segments could never match and are refused rather than ignored.
 */
function fileTargetProblem(value: string, what: 'preApproved' | 'neverAllow' | 'scope'): string | null {
  if (!(value.startsWith('/') || value === '~' || value.startsWith('~/'))) return `"${value}" must be an absolute path or start with "~/"`;
  const segments = value.split('/');
  if (segments.includes('..') || segments.includes('.')) return `"${value}": write the path without "." or ".." (paths are compared as written, after "~/" is expanded)`;
  // Pre-approving the root or the whole home folder would answer every file request without asking.
  if (what !== 'neverAllow' && /^(\/+|~\/*)$/.test(value)) {
    return `"${value}" would cover ${value.startsWith('~') ? 'your whole home folder' : 'every file on the host'}; name the folders the agent needs`;
  }
  return null;
}

/** Checks an entry's target by its kind: a path for files, an `egress.allow`-style host pattern for the network. */
function checkTarget(entry: { kind: 'file' | 'network'; target: string }, ctx: z.RefinementCtx, what: 'preApproved' | 'neverAllow'): void {
  const problem = entry.kind === 'file' ? fileTargetProblem(entry.target, what) : hostProblem(entry.target);
  if (problem !== null) ctx.addIssue({ code: 'custom', message: problem, path: ['target'] });
}

function hostProblem(target: string): string | null {
  const r = parseHostPattern(target);
  return r.ok ? null : r.why;
}

const APPROVAL_TARGET_KIND = z.enum(['file', 'network']).describe('"file": a host folder (or file) a session asks to read or write; "network": a destination egress ask mode asks about.');
const APPROVAL_TARGET = z
  .string()
  .min(1)
  .max(1024)
  .describe('For "file": an absolute path or one starting with "~/"; it covers that folder and everything inside it. For "network": a host pattern as in egress.allow ("host", "host:port", "*.example.com").');

export const PreApprovalSchema = z
  .strictObject({
    kind: APPROVAL_TARGET_KIND,
    target: APPROVAL_TARGET,
    write: z.boolean().optional().describe('Files only: true pre-approves read-write access; absent or false, read-only (a write request is then still asked).'),
    workspaces: z
      .array(
        z.string().superRefine((v, ctx) => {
          const problem = fileTargetProblem(v, 'scope');
          if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
        }),
      )
      .min(1, 'an empty list would match no session; leave "workspaces" out to cover every session')
      .optional()
      .describe('Only for sessions with a workspace that is one of these folders or lies inside one (absolute, or starting with "~/"). Absent: every session.'),
  })
  .superRefine((e, ctx) => {
    checkTarget(e, ctx, 'preApproved');
    if (e.kind === 'network' && e.write !== undefined) ctx.addIssue({ code: 'custom', message: '"write" applies to file entries only', path: ['write'] });
  })
  .describe('A request answered "allow" without asking.');

export const NeverAllowSchema = z
  .strictObject({ kind: APPROVAL_TARGET_KIND, target: APPROVAL_TARGET })
  .superRefine((e, ctx) => checkTarget(e, ctx, 'neverAllow'))
  .describe('A request denied without asking, whatever anyone answers; beats every pre-approval.');

/** One `approvals.preApproved` entry as parsed. */
export interface PreApproval {
  readonly kind: 'file' | 'network';
  readonly target: string;
  /** Files: read-write when true; read-only when absent or false. */
  readonly write?: boolean;
  /** Scope: sessions with a workspace at or inside one of these folders; absent = every session. */
  readonly workspaces?: readonly string[];
}

/** One `approvals.neverAllow` entry as parsed. */
export interface NeverAllowEntry {
  readonly kind: 'file' | 'network';
  readonly target: string;
}

export const ApprovalsPolicySchema = z
  .strictObject({
    fileAccess: z
      .enum(['ask', 'deny'])
      .optional()
      .describe('A request for a folder outside the workspaces: ask the user, or deny outright (only a pre-approval from the same or a higher policy level still allows it). Default "ask".'),
    timeoutSeconds: z.number().int().min(5).max(3600).optional().describe('How long a prompt waits; no answer is a deny. Default 60.'),
    preApproved: z
      .array(PreApprovalSchema)
      .max(500)
      .optional()
      .describe(
        'Requests allowed without a prompt. Like egress.allow, a higher policy level that sets this list replaces lower ones (the same level adds to it). A user\'s network entries are dropped when recommended or managed policy sets egress.allow, and a user\'s file entries when it sets fileAccess "deny". Default: none.',
      ),
    neverAllow: z
      .array(NeverAllowSchema)
      .max(500)
      .optional()
      .describe('Requests denied at once without a prompt, whatever anyone answers; checked before preApproved. Like egress.deny, the lists of every level are added together. A network entry without a port covers every port. Default: none.'),
    maxRequestsPerMinute: z
      .number()
      .int()
      .min(1)
      .max(600)
      .optional()
      .describe('Requests one session may make per minute; more are denied without asking and raise one alert. Default 20.'),
  })
  .describe('Approval prompts: file-access and network (egress ask mode) requests a session makes, answered by the user, by pre-approvals, or refused by neverAllow.');

const exportName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,31}$/, 'names are lower-case letters, digits and "-"')
  .optional()
  .describe('Names this destination\'s delivery cursor; keep it stable (renaming re-sends everything). Default: derived from the type and address.');

/** One SIEM destination (issue 20). Every record keeps its OCSF class, `seq` and `hash`. */
export const ExportDestinationSchema = z.discriminatedUnion('type', [
  z
    .strictObject({
      type: z.literal('syslog'),
      name: exportName,
      url: z.string().regex(/^(tcp|tls):\/\/[^/\s:]+:\d{1,5}$/, 'syslog url is tcp://host:port or tls://host:port').describe('RFC 5424 messages with RFC 5425 octet-counted framing, over TCP or TLS (verified against system CAs plus caFile).'),
      caFile: z.string().min(1).optional().describe('PEM CA certificates trusted for tls://, in addition to the system CAs.'),
      format: z.enum(['ocsf-json', 'cef']).optional().describe('The syslog MSG: ocsf-json (default; the record\'s JSON line) or cef (ArcSight Common Event Format, one CEF record per message).'),
    })
    .describe('syslog (RFC 5424 over TCP, or TLS per RFC 5425).'),
  z
    .strictObject({
      type: z.literal('hec'),
      name: exportName,
      url: z.url({ protocol: /^https?$/ }).describe('Base URL of a Splunk HTTP Event Collector (or compatible); /services/collector/event is appended. http:// only for loopback.'),
      tokenEntry: z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/).describe('Name of the OS keychain entry holding the HEC token (`cordon keys set NAME`); the token itself never appears in policy.'),
      caFile: z.string().min(1).optional().describe('PEM CA certificates trusted for https://, in addition to the system CAs.'),
    })
    .describe('Splunk HTTP Event Collector JSON batches (`Authorization: Splunk <token>`).'),
  z
    .strictObject({
      type: z.literal('otlp'),
      name: exportName,
      url: z.url({ protocol: /^https?$/ }).describe('Base URL of an OpenTelemetry collector\'s OTLP/HTTP receiver; /v1/logs is appended. http:// only for loopback.'),
      caFile: z.string().min(1).optional().describe('PEM CA certificates trusted for https://, in addition to the system CAs.'),
    })
    .describe('OpenTelemetry logs over OTLP/HTTP (JSON).'),
  z
    .strictObject({
      type: z.literal('file'),
      name: exportName,
      path: z.string().min(1).describe('File the records are appended to, one record a line.'),
      format: z.enum(['ocsf-json', 'cef']).optional().describe('Each line: ocsf-json (default; the OCSF JSON record) or cef (ArcSight Common Event Format).'),
      maxBytes: z.number().int().min(4096).optional().describe('Size at which the file is rotated (PATH.1, PATH.2 …). Default 50 MiB.'),
      keep: z.number().int().min(1).max(100).optional().describe('Rotated files kept. Default 5.'),
    })
    .describe('A rotating local file (for a log shipper that tails it).'),
]);
export type ExportDestination = z.infer<typeof ExportDestinationSchema>;

export const AuditPolicySchema = z
  .strictObject({
    retentionDays: z.number().int().min(1).max(3650).optional().describe('How long rotated audit files are kept.'),
    export: z
      .strictObject({
        format: z.enum(['ocsf-jsonl', 'cef', 'syslog']).optional().describe('Format sent to `destination`: cef sends ArcSight Common Event Format (as the syslog MSG to a syslog URL, one line a record to a file); otherwise OCSF JSON (a file gets one record a line, a syslog URL RFC 5424 messages).'),
        destination: z.string().min(1).optional().describe('Where exported records go: a file path, or a syslog URL (tcp://host:port, tls://host:port). Kept for compatibility; `destinations` says more.'),
        destinations: z.array(ExportDestinationSchema).max(8).optional().describe('SIEM destinations; each receives every record at least once, in order, from Cordon\'s on-disk spool.'),
        maxBacklogRecords: z.number().int().min(100).max(10_000_000).optional().describe('Records a destination may fall behind before an alert is raised (the spool is full); records are never dropped while the log holds them. Default 100000.'),
      })
      .optional()
      .describe('SIEM export: enforced. The whole section is taken from the highest policy level that sets it.'),
  })
  .describe('Audit log retention and export.');

const burst = (what: string, files: number, seconds: number) =>
  z
    .strictObject({
      count: z.number().int().min(1).max(1_000_000).describe(`How many ${what}.`),
      seconds: z.number().int().min(1).max(3600).describe('Within how many seconds.'),
    })
    .optional()
    .describe(`Alert on ${what} within a window. Default ${files} in ${seconds} s.`);

export const MonitoringPolicySchema = z
  .strictObject({
    alerts: z.boolean().optional().describe('Raise alerts (OCSF Detection Findings in the audit log) from the detection rules and the workspace watcher. Default true.'),
    quarantineOnAlert: z.boolean().optional().describe('Quarantine a session automatically when a high-severity alert fires for it. Default false.'),
    massChange: burst('workspace files modified or deleted', 100, 10),
    egressDenials: burst('refused egress connections', 20, 60),
    dlpFindings: burst('DLP findings on model requests', 10, 60),
    modelRequests: burst('model requests', 120, 60),
    phantomMisuse: burst('refused uses of a phantom token (wrong session, provider or host, revoked, outside key)', 1, 60),
    clipboardTransfers: burst('clipboard transfers through the gate (the sandbox\'s clipboard tools, either direction)', 30, 60),
    sensitiveFiles: z
      .array(z.string().min(1).max(200).regex(/^[^/]/, 'a pattern is relative: a name (".envrc") matches anywhere, a path (".vscode/tasks.json") matches as a suffix'))
      .max(200)
      .optional()
      .describe('Files that alert when created or changed anywhere in a workspace, nested repositories included, added to the built-in list (.git/hooks/*, risky .git/config settings, .envrc, .npmrc, .vscode/tasks.json, .pre-commit-config.yaml …). Every level\'s entries are added together.'),
    neutraliseSensitiveFiles: z.boolean().optional().describe('At the end of a session, move the sensitive files it created or changed to a quarantine folder beside its evidence, with a report. Default true; false keeps them in place (still alerted).'),
  })
  .describe('Detection rules, the workspace watcher and quarantine on alert.');

/** The effective `monitoring` section: every threshold present. */
export interface MonitoringPolicy {
  readonly alerts: boolean;
  readonly quarantineOnAlert: boolean;
  readonly massChange: { readonly count: number; readonly seconds: number };
  readonly egressDenials: { readonly count: number; readonly seconds: number };
  readonly dlpFindings: { readonly count: number; readonly seconds: number };
  readonly modelRequests: { readonly count: number; readonly seconds: number };
  readonly phantomMisuse: { readonly count: number; readonly seconds: number };
  readonly clipboardTransfers: { readonly count: number; readonly seconds: number };
  /** Policy's patterns only; the built-in list is always applied too (core/monitor/sensitive-files.ts). */
  readonly sensitiveFiles: readonly string[];
  readonly neutraliseSensitiveFiles: boolean;
}

export const DEFAULT_MONITORING: MonitoringPolicy = {
  alerts: true,
  quarantineOnAlert: false,
  massChange: { count: 100, seconds: 10 },
  egressDenials: { count: 20, seconds: 60 },
  dlpFindings: { count: 10, seconds: 60 },
  modelRequests: { count: 120, seconds: 60 },
  phantomMisuse: { count: 1, seconds: 60 },
  clipboardTransfers: { count: 30, seconds: 60 },
  sensitiveFiles: [],
  neutraliseSensitiveFiles: true,
};

export const FeaturesPolicySchema = z
  .record(
    z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'role names are lower-case letters, digits and "-"'),
    z.strictObject({
      launch: z.boolean().optional().describe('May start interactive agent sessions.'),
      exec: z.boolean().optional().describe('May run one-shot sandboxed commands.'),
      changeSettings: z.boolean().optional().describe('May change user settings that policy does not lock.'),
    }),
  )
  .describe('Feature switches per role. The machine\'s role is the top-level `role`, set by managed policy; a switch left out allows.');

export const KeysPolicySchema = z
  .strictObject({
    phantomTtlMinutes: z
      .number()
      .int()
      .min(1)
      .max(24 * 60)
      .optional()
      .describe('Lifetime of the authorisation behind a session\'s phantom token; renewed while the session runs, dead once it ends. Default 60.'),
  })
  .describe('API keys: the sandbox only ever holds a per-session phantom token; the real key stays in the OS keychain.');

export const PolicySchema = z
  .strictObject({
    $schema: z.string().optional().describe('Editor hint; ignored.'),
    sandbox: SandboxPolicySchema.optional(),
    workspaces: WorkspacesPolicySchema.optional(),
    egress: EgressPolicySchema.optional(),
    providers: ProvidersSchema.optional(),
    keys: KeysPolicySchema.optional(),
    dlp: DlpPolicySchema.optional(),
    credentials: CredentialsPolicySchema.optional(),
    gates: GatesPolicySchema.optional(),
    approvals: ApprovalsPolicySchema.optional(),
    audit: AuditPolicySchema.optional(),
    monitoring: MonitoringPolicySchema.optional(),
    features: FeaturesPolicySchema.optional(),
    role: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,31}$/, 'role names are lower-case letters, digits and "-"')
      .optional()
      .describe('This machine\'s role, naming an entry of `features`. Honoured only from managed policy (recommended or mandatory): users cannot pick their own role.'),
  })
  .describe('Cordon policy.');

export type PolicyDocument = z.infer<typeof PolicySchema>;

/** The effective policy after merging every source; every field present. */
export interface EffectivePolicy {
  readonly sandbox: { readonly profile: string; readonly allowedProfiles: readonly string[] | null };
  readonly workspaces: { readonly allow: readonly string[] | null; readonly deny: readonly string[]; readonly writeProtected: readonly string[] };
  /** What may leave the sandbox; the default allows no host (vendors are reached through the model route only) and denies telemetry. */
  readonly egress: EgressPolicy;
  readonly providers: Providers;
  readonly keys: { readonly phantomTtlMinutes: number };
  /** What is scanned, redacted, tokenized or blocked on the model route and inspected requests. */
  readonly dlp: DlpPolicy;
  /** Phantom credentials for other services (issue 19); empty: none. */
  readonly credentials: CredentialsPolicy;
  /** Approval prompts (issue 17): see {@link ApprovalsPolicySchema} for each field's meaning and merge rule. */
  readonly approvals: {
    readonly fileAccess: 'ask' | 'deny';
    readonly timeoutSeconds: number;
    readonly preApproved: readonly PreApproval[];
    readonly neverAllow: readonly NeverAllowEntry[];
    readonly maxRequestsPerMinute: number;
  };
  /** Clipboard, terminal paste and drag-and-drop (core/gate/). */
  readonly gates: GatesPolicy;
  /** SIEM export (issue 20): the legacy `destination` folded into `destinations`. */
  readonly audit: { readonly export: { readonly destinations: readonly ExportDestination[]; readonly maxBacklogRecords: number } };
  /** Detection rules and the workspace watcher (issue 20). */
  readonly monitoring: MonitoringPolicy;
}

export const DEFAULT_POLICY: EffectivePolicy = {
  sandbox: { profile: 'standard', allowedProfiles: null },
  workspaces: { allow: null, deny: [], writeProtected: [] },
  egress: defaultEgressPolicy(),
  providers: DEFAULT_PROVIDERS,
  keys: { phantomTtlMinutes: 60 },
  dlp: DEFAULT_DLP_POLICY,
  credentials: {},
  approvals: { ...DEFAULT_APPROVALS, preApproved: [], neverAllow: [] },
  gates: DEFAULT_GATES_POLICY,
  audit: { export: { destinations: [], maxBacklogRecords: 100_000 } },
  monitoring: DEFAULT_MONITORING,
};

/** One problem in one policy source, phrased so a person can fix it. */
export interface PolicyIssue {
  readonly source: string;
  readonly path: string;
  readonly message: string;
}

/** One issue as a line a person can act on: `file: path: message`. */
export function formatPolicyIssue(i: PolicyIssue): string {
  return `${i.source}: ${i.path}: ${i.message}`;
}

/** Turns zod issues into `{path, message}` pairs with dotted paths (`workspaces.deny[2]`). */
export function describeZodIssues(source: string, error: z.ZodError): PolicyIssue[] {
  return error.issues.map((issue) => {
    const path = formatPath(issue.path);
    let message = issue.message;
    if (issue.code === 'unrecognized_keys') {
      message = `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')} (not part of the policy schema; check the spelling)`;
    }
    return { source, path: path === '' ? '(root)' : path, message };
  });
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out;
}
