import { z } from 'zod';
import { DlpPolicySchema, DEFAULT_DLP_POLICY, type DlpPolicy } from '../dlp/policy.js';
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
  })
  .describe('Cordon policy.');

export type PolicyDocument = z.infer<typeof PolicySchema>;

/** The effective policy after merging every source; every field present. */
export interface EffectivePolicy {
  readonly sandbox: { readonly profile: string; readonly allowedProfiles: readonly string[] | null };
  readonly workspaces: { readonly deny: readonly string[]; readonly writeProtected: readonly string[] };
  /** What may leave the sandbox; the default allows only the providers' API hosts and denies telemetry. */
  readonly egress: EgressPolicy;
  readonly providers: Providers;
  readonly keys: { readonly phantomTtlMinutes: number };
  /** What is scanned, redacted, tokenized or blocked on the model route. */
  readonly dlp: DlpPolicy;
}

export const DEFAULT_POLICY: EffectivePolicy = {
  sandbox: { profile: 'standard', allowedProfiles: null },
  workspaces: { deny: [], writeProtected: [] },
  egress: defaultEgressPolicy(DEFAULT_PROVIDERS),
  providers: DEFAULT_PROVIDERS,
  keys: { phantomTtlMinutes: 60 },
  dlp: DEFAULT_DLP_POLICY,
};

/** One problem in one policy source, phrased so a person can fix it. */
export interface PolicyIssue {
  readonly source: string;
  readonly path: string;
  readonly message: string;
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
