import { loadPolicy } from '../core/policy/policy-loader.js';
import { resolveCordonPaths } from '../core/paths/cordon-paths.js';
import { platformPolicySource } from '../core/policy/platform-sources.js';
import type { DlpPolicy } from '../core/dlp/policy.js';
import { CliExit } from './cli-exit.js';
import { EXIT } from './exit-codes.js';
import { formatPolicyIssue } from '../core/policy/policy-schema.js';

/** The effective `dlp` policy for `cordon dlp`; a malformed policy ends the command with exit 3. */
export function loadDlpPolicyOrExit(): DlpPolicy {
  const res = loadPolicy(resolveCordonPaths(), { platform: platformPolicySource() });
  if (!res.ok) throw new CliExit(EXIT.policyInvalid, `policy is invalid:\n${res.issues.map((i) => `  ${formatPolicyIssue(i)}`).join('\n')}`);
  return res.policy.dlp;
}
