// Shared shapes of the DLP engine. Findings carry positions, never the matched
// text, so that anything derived from them (audit, logs, CLI output) cannot leak
// the value by accident.

/** What kind of data a detector protects. */
export type DlpCategory = 'secret' | 'pii' | 'custom';

/** The identifiers of Cordon's built-in detectors (stable: policies name them). */
export const BUILTIN_DETECTOR_IDS = [
  'aws_access_key_id',
  'aws_secret_access_key',
  'github_pat',
  'github_fine_grained_pat',
  'github_oauth_token',
  'github_app_token',
  'gitlab_token',
  'slack_bot_token',
  'slack_user_token',
  'slack_app_token',
  'slack_webhook_url',
  'stripe_live_key',
  'stripe_restricted_key',
  'google_api_key',
  'google_service_account',
  'azure_storage_key',
  'azure_connection_string',
  'anthropic_api_key',
  'openai_api_key',
  'npm_token',
  'pypi_token',
  'twilio_api_key',
  'sendgrid_api_key',
  'pem_private_key',
  'openssh_private_key',
  'pgp_private_key',
  'jwt',
  'url_credentials',
  'cordon_phantom_token',
  'generic_secret_assignment',
  'credit_card',
  'us_ssn',
  'iban',
  'email',
  'phone',
  'corporate_ip',
] as const;

/** A built-in detector's identifier. */
export type BuiltinDetectorId = (typeof BUILTIN_DETECTOR_IDS)[number];

/**
 * A detector id as it appears in findings: a built-in id, `custom:<id>` for a
 * policy pattern, or `marker:<id>` for a classification marker.
 */
export type DetectorId = BuiltinDetectorId | `custom:${string}` | `marker:${string}`;

/** How an encoded run that hid a finding was written (see encoded-runs.ts). */
export type EncodingKind = 'base64' | 'hex' | 'percent' | 'escape';

/**
 * One match. `start`/`end` are JavaScript string (UTF-16) indices into the
 * scanned text, end exclusive. `confidence` is 0..1: 1 for checksummed or
 * fixed-prefix formats, lower for context- and entropy-based ones. A value
 * found inside an encoded run has `encoding` set, and its span is the whole
 * run as written (a part of a base64 run cannot be replaced on its own).
 */
export interface Finding {
  readonly detector: DetectorId;
  readonly category: DlpCategory;
  readonly start: number;
  readonly end: number;
  readonly confidence: number;
  readonly encoding?: EncodingKind;
}

/**
 * Outcome of a scan. `budget_exceeded` means the scan stopped before covering
 * the whole input (too large, or out of time): callers must treat the input as
 * unscanned and block it. The partial findings are for diagnostics only.
 */
export type ScanResult =
  | { readonly status: 'complete'; readonly findings: readonly Finding[] }
  | {
      readonly status: 'budget_exceeded';
      readonly reason: 'input_too_large' | 'time_budget';
      readonly findings: readonly Finding[];
    };

/** What happens to a finding on its way out. */
export type DlpAction = 'allow' | 'redact' | 'tokenize' | 'block';

/** Actions in increasing strictness; the strictest wins when findings overlap or a body mixes them. */
export const ACTION_STRICTNESS: Readonly<Record<DlpAction, number>> = { allow: 0, tokenize: 1, redact: 2, block: 3 };

/** Prefix of vault tokens; followed by VAULT_TOKEN_HEX_LENGTH lowercase hex characters. */
export const VAULT_TOKEN_PREFIX = 'cdntk_';
/** Hex characters after the prefix (128 bits of HMAC output). */
export const VAULT_TOKEN_HEX_LENGTH = 32;
/** Total length of a vault token. */
export const VAULT_TOKEN_LENGTH = VAULT_TOKEN_PREFIX.length + VAULT_TOKEN_HEX_LENGTH;
