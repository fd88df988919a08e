// Public surface of Cordon's DLP engine. Adapters (the egress proxy's model
// route, the CLI, later the clipboard gate) import from here only.

export type {
  BuiltinDetectorId,
  DetectorId,
  DlpAction,
  DlpCategory,
  Finding,
  ScanResult,
} from './types.js';
export { BUILTIN_DETECTOR_IDS, VAULT_TOKEN_LENGTH, VAULT_TOKEN_PREFIX } from './types.js';
export { createScanner, DEFAULT_SCAN_BUDGET, PUBLISHED_EXAMPLE_VALUES } from './scanner.js';
export type { Scanner, ScannerConfig, ScanBudget, CustomPatternSpec, MarkerSpec } from './scanner.js';
export { DlpPolicySchema, DEFAULT_DLP_POLICY, compileDlpPolicy, resolveAction } from './policy.js';
export type { CompiledDlpPolicy, DlpPolicy } from './policy.js';
export { applyDecisions, redactionLabel, summarize } from './apply.js';
export type { DecidedFinding, FindingSummary, AppliedText } from './apply.js';
export { createModelRequestFilter } from './request-filter.js';
export type {
  DlpRequest,
  DlpRequestDecision,
  DlpRequestFilter,
  DlpBlockReason,
  ModelRequestFilterOptions,
} from './request-filter.js';
export { TokenVault, createRehydrateTransform, safeEmitLength } from './vault.js';
export type { TokenVaultOptions, TokenizeResult, RehydrateEncoding, RehydrateTransformOptions } from './vault.js';
export { checkCustomPattern } from './custom-patterns.js';
export { createSseRehydrateTransform, createResponseRehydrator } from './sse-rehydrate.js';
export { createModelRouteDlp } from './model-route-dlp.js';
export type { ModelRouteDlp, ModelRouteDlpOptions } from './model-route-dlp.js';
export { decodeContentEncoding } from './content-encoding.js';
export type { BodyDecodeFailure, BodyDecodeResult } from './content-encoding.js';
