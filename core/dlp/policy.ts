// The `dlp` fragment of Cordon's policy: which detectors run, what happens to
// each finding (per rule and per destination), custom patterns and markers,
// allowlists, and the scan budget. The zod schema is the source of truth; the
// TypeScript types are inferred from it.

import { z } from 'zod';
import { checkCustomPattern } from './custom-patterns.js';
import { BUILTIN_DETECTOR_IDS, type BuiltinDetectorId, type DetectorId, type DlpAction, type DlpCategory } from './types.js';
import { parseCidr } from '../net/ip-address.js';
import type { ScannerConfig } from './scanner.js';

const ActionSchema = z
  .enum(['allow', 'redact', 'tokenize', 'block'])
  .describe(
    'allow: send unchanged and record; redact: replace with [REDACTED:<detector>]; tokenize: replace with a reversible session token, rehydrated in responses; block: reject the request.',
  );

const RULE_ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;

const CategoryActionsSchema = z
  .strictObject({
    secret: ActionSchema.describe('Action for credentials and keys.'),
    pii: ActionSchema.describe('Action for personal data (cards, SSNs, IBANs, emails, phones, corporate IPs).'),
    custom: ActionSchema.describe('Action for policy patterns and markers that name no action of their own.'),
  })
  .describe('Action per category, used when no more specific rule applies.');

const PartialCategoryActionsSchema = z
  .strictObject({
    secret: ActionSchema.optional().describe('Action for secrets at this destination.'),
    pii: ActionSchema.optional().describe('Action for PII at this destination.'),
    custom: ActionSchema.optional().describe('Action for custom findings at this destination.'),
  })
  .describe('Per-category overrides at one destination.');

const DetectorRuleSchema = z
  .strictObject({
    enabled: z.boolean().optional().describe('false turns the detector off entirely (no findings, nothing recorded).'),
    action: ActionSchema.optional().describe('Action for this detector, overriding its category action.'),
  })
  .describe('Rule for one detector.');

const DestinationSchema = z
  .strictObject({
    categories: PartialCategoryActionsSchema.optional().describe('Category overrides for this destination.'),
    detectors: z
      .record(z.string(), ActionSchema)
      .optional()
      .describe('Per-detector action overrides for this destination; keys are built-in ids, custom:<id> or marker:<id>.'),
  })
  .describe('Overrides that apply only when sending to this destination (a model route name such as "anthropic", or an inspected host).');

const CustomPatternSchema = z
  .strictObject({
    id: z.string().regex(RULE_ID).describe('Identifier; findings are reported as custom:<id>.'),
    description: z.string().max(200).optional().describe('What the pattern protects, for people reading the policy.'),
    pattern: z
      .string()
      .superRefine((src, ctx) => {
        const r = checkCustomPattern(src);
        if (!r.ok) ctx.addIssue({ code: 'custom', message: `unsafe or invalid pattern: ${r.reason}` });
      })
      .describe(
        'JavaScript regular expression (u flag) in a safe subset: bounded quantifiers only ({0,N}, N <= 256), no repeated group containing a quantifier or |, no backreferences or lookbehind.',
      ),
    caseInsensitive: z.boolean().default(false).describe('Match regardless of case.'),
    keywords: z
      .array(z.string().min(2))
      .max(32)
      .default([])
      .describe('Literal prefilter: the pattern runs only when one of these occurs (case-insensitive). Empty: always runs.'),
    confidence: z.number().min(0).max(1).default(0.9).describe('Confidence reported with each finding.'),
    action: ActionSchema.describe('What happens to a match.'),
  })
  .describe('A policy-defined pattern.');

const MarkerSchema = z
  .strictObject({
    id: z.string().regex(RULE_ID).describe('Identifier; findings are reported as marker:<id>.'),
    text: z.string().min(2).max(100).describe('The marker text, matched as whole words; any whitespace between words matches.'),
    caseSensitive: z.boolean().default(true).describe('Match only with the exact capitalisation.'),
    action: ActionSchema.describe('What happens to a request containing the marker.'),
  })
  .describe('A classification marker such as CONFIDENTIAL.');

const BudgetSchema = z
  .strictObject({
    maxInputBytes: z
      .number()
      .int()
      .positive()
      .max(256 * 1024 * 1024)
      .describe('Largest request body scanned; a larger body is blocked (fail closed).'),
    maxScanMillis: z
      .number()
      .int()
      .positive()
      .max(60_000)
      .describe('Wall-clock budget for scanning one body; a scan that overruns blocks the request (fail closed).'),
  })
  .describe('Per-scan limits.');

/**
 * Actions for the built-in detectors that differ from their category default.
 * They stay in force for every detector a policy's `detectors` map does not
 * mention, so listing one detector cannot silently unblock private keys.
 */
export const DEFAULT_DETECTOR_RULES: Readonly<Record<string, z.infer<typeof DetectorRuleSchema>>> = {
  // Private keys and service-account files are never needed by a model and
  // cannot be partially useful: stop the request.
  pem_private_key: { action: 'block' },
  openssh_private_key: { action: 'block' },
  pgp_private_key: { action: 'block' },
  google_service_account: { action: 'block' },
  // A phantom token is only meaningful to our own proxy; the vendor never needs it.
  cordon_phantom_token: { action: 'redact' },
  // Financial and government identifiers: the model has no use for the digits.
  credit_card: { action: 'redact' },
  us_ssn: { action: 'redact' },
  iban: { action: 'redact' },
  corporate_ip: { action: 'redact' },
};

const DEFAULT_MARKERS: z.infer<typeof MarkerSchema>[] = [
  { id: 'confidential', text: 'CONFIDENTIAL', caseSensitive: true, action: 'allow' },
  { id: 'internal-only', text: 'INTERNAL ONLY', caseSensitive: true, action: 'allow' },
];

/**
 * Schema of the `dlp` policy key. Every field has a default, so `{}` parses
 * to DEFAULT_DLP_POLICY. Unknown keys are rejected (a typo must not silently
 * weaken the policy).
 */
export const DlpPolicySchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe('false: requests are not scanned at all.'),
    categories: CategoryActionsSchema.default({ secret: 'tokenize', pii: 'tokenize', custom: 'redact' }),
    detectors: z
      .record(z.string(), DetectorRuleSchema)
      .default(DEFAULT_DETECTOR_RULES)
      .describe(
        'Per-detector rules keyed by built-in detector id. Each field you set overrides the built-in default for that detector; detectors you do not list keep their defaults (private keys and service-account files: block; phantom tokens, cards, SSNs, IBANs, corporate IPs: redact).',
      ),
    destinations: z
      .record(z.string().min(1), DestinationSchema)
      .default({})
      .describe('Per-destination overrides keyed by model route name ("anthropic"), or, for requests inside inspected tunnels (egress.inspect), by host ("gist.github.com") or host wildcard ("*.example.com"; the exact host wins, then the longest wildcard).'),
    customPatterns: z.array(CustomPatternSchema).max(64).default([]).describe('Policy-defined patterns.'),
    markers: z.array(MarkerSchema).max(64).default(DEFAULT_MARKERS).describe('Classification markers.'),
    stopwords: z
      .array(z.string().min(3))
      .max(1000)
      .default([])
      .describe('Case-insensitive substrings; a match whose value contains one is ignored (e.g. a test-fixture marker).'),
    allowValues: z
      .array(z.string().min(1))
      .max(1000)
      .default([])
      .describe('Exact values never reported, in addition to published example values such as AWS documentation keys.'),
    corporateCidrs: z
      .array(
        z
          .string()
          // The prefix is required (10.1.2.3/32 for one address), so a network's size is always written out.
          .refine((s) => s.includes('/') && parseCidr(s) !== null, {
            message: 'must be an IPv4 or IPv6 CIDR such as 10.0.0.0/8 or fd00::/8',
          }),
      )
      .max(256)
      .default([])
      .describe('IPv4 and IPv6 networks whose addresses are reported as corporate_ip. Empty: the detector finds nothing.'),
    budget: BudgetSchema.default({ maxInputBytes: 16 * 1024 * 1024, maxScanMillis: 500 }),
    tokenTtlSeconds: z
      .number()
      .int()
      .positive()
      .max(7 * 24 * 3600)
      .default(12 * 3600)
      .describe('Longest life of a session token vault; it also ends with the session.'),
  })
  .superRefine((p, ctx) => {
    const builtins = new Set<string>(BUILTIN_DETECTOR_IDS);
    for (const id of Object.keys(p.detectors)) {
      if (!builtins.has(id)) ctx.addIssue({ code: 'custom', path: ['detectors', id], message: `unknown detector '${id}'` });
    }
    const known = new Set<string>([
      ...BUILTIN_DETECTOR_IDS,
      ...p.customPatterns.map((c) => `custom:${c.id}`),
      ...p.markers.map((m) => `marker:${m.id}`),
    ]);
    for (const [dest, o] of Object.entries(p.destinations)) {
      for (const id of Object.keys(o.detectors ?? {})) {
        if (!known.has(id)) {
          ctx.addIssue({ code: 'custom', path: ['destinations', dest, 'detectors', id], message: `unknown detector '${id}'` });
        }
      }
    }
    const ids = new Set<string>();
    for (const c of [...p.customPatterns.map((x) => `custom:${x.id}`), ...p.markers.map((x) => `marker:${x.id}`)]) {
      if (ids.has(c)) ctx.addIssue({ code: 'custom', path: ['customPatterns'], message: `duplicate id '${c}'` });
      ids.add(c);
    }
  })
  .describe('Data-loss prevention on everything sent to a model and on every request inside an inspected tunnel (egress.inspect).');

/** A parsed `dlp` policy (all defaults filled in). */
export type DlpPolicy = z.infer<typeof DlpPolicySchema>;

/** The policy Cordon applies when none is configured: secrets tokenized, private keys blocked, PII tokenized or redacted. */
export const DEFAULT_DLP_POLICY: DlpPolicy = DlpPolicySchema.parse({});

/**
 * The action for one finding at one destination. Precedence, most specific
 * first: destination detector rule, destination category rule, global
 * detector rule, the custom pattern's or marker's own action, global category.
 */
export function resolveAction(policy: DlpPolicy, detector: DetectorId, category: DlpCategory, destination: string): DlpAction {
  const dest = Object.hasOwn(policy.destinations, destination) ? policy.destinations[destination] : undefined;
  const destDetector = dest?.detectors !== undefined && Object.hasOwn(dest.detectors, detector) ? dest.detectors[detector] : undefined;
  if (destDetector !== undefined) return destDetector;
  const destCategory = dest?.categories?.[category];
  if (destCategory !== undefined) return destCategory;
  const rule = detectorRule(policy, detector);
  if (rule.action !== undefined) return rule.action;
  if (detector.startsWith('custom:')) {
    const c = policy.customPatterns.find((x) => `custom:${x.id}` === detector);
    if (c !== undefined) return c.action;
  } else if (detector.startsWith('marker:')) {
    const m = policy.markers.find((x) => `marker:${x.id}` === detector);
    if (m !== undefined) return m.action;
  }
  return policy.categories[category];
}

/** A detector's effective rule: the policy's fields over the built-in default's. */
function detectorRule(policy: DlpPolicy, detector: string): z.infer<typeof DetectorRuleSchema> {
  const base = Object.hasOwn(DEFAULT_DETECTOR_RULES, detector) ? DEFAULT_DETECTOR_RULES[detector] : undefined;
  const own = Object.hasOwn(policy.detectors, detector) ? policy.detectors[detector] : undefined;
  return { ...base, ...own };
}

/**
 * A DLP policy with the scanner configuration it implies, derived once per
 * effective policy (compilePolicy in core/policy/compiled-policy.ts) and handed
 * to every filter built from it: the model route's per-provider filters, and
 * each again on a live reload.
 */
export interface CompiledDlpPolicy {
  /** The policy's actions, destinations and budget, as loaded. */
  readonly rules: DlpPolicy;
  readonly scanner: ScannerConfig;
}

/** Compiles `policy`; see {@link CompiledDlpPolicy}. */
export function compileDlpPolicy(policy: DlpPolicy): CompiledDlpPolicy {
  return { rules: policy, scanner: scannerConfigFromPolicy(policy) };
}

/** The scanner configuration a policy implies. */
function scannerConfigFromPolicy(policy: DlpPolicy): ScannerConfig {
  const disabled = new Set<BuiltinDetectorId>();
  for (const id of BUILTIN_DETECTOR_IDS) {
    if (detectorRule(policy, id).enabled === false) disabled.add(id);
  }
  return {
    disabledDetectors: disabled,
    customPatterns: policy.customPatterns.map((c) => ({
      id: c.id,
      pattern: c.pattern,
      caseInsensitive: c.caseInsensitive,
      keywords: c.keywords,
      confidence: c.confidence,
    })),
    markers: policy.markers.map((m) => ({ id: m.id, text: m.text, caseSensitive: m.caseSensitive })),
    stopwords: policy.stopwords,
    allowValues: policy.allowValues,
    corporateCidrs: policy.corporateCidrs,
    budget: { maxInputChars: policy.budget.maxInputBytes, maxScanMillis: policy.budget.maxScanMillis },
  };
}
