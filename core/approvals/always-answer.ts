/**
 * Whether a request may be answered "always" (issue 17): for a network
 * request that means writing the host to the user's own `egress.allow`, for a
 * file request a pre-approval in the user's own `approvals.preApproved`; each
 * field may be locked by managed policy. Clipboard and file transfers have no
 * lasting grant.
 */
import type { PolicyOrigins } from '../policy/policy-loader.js';
import type { RoleFeatures } from '../policy/role-features.js';
import { lockMessage } from '../policy/user-settings.js';
import type { ApprovalKind } from './approval-store.js';

/** The user-policy field an "always" answer writes, by request kind; null where there is none. */
export function alwaysField(kind: ApprovalKind): 'egress.allow' | 'approvals.preApproved' | null {
  switch (kind) {
    case 'network':
      return 'egress.allow';
    case 'file':
      return 'approvals.preApproved';
    case 'clipboard':
    case 'file-transfer':
      return null;
  }
}

/** Null when "always" may be answered; otherwise why not, with what to answer instead. */
export function alwaysRefusal(kind: ApprovalKind, provenance: PolicyOrigins | null): string | null {
  const field = alwaysField(kind);
  if (field === null) return `"always" is not available for ${kind} requests: allow once or for a duration`;
  if (provenance === null) return 'policy cannot be read, so "always" cannot be written: allow once or for a duration';
  const locked = lockMessage(provenance, field);
  return locked === null ? null : `cannot allow always: ${locked}. Allow once or for a duration instead.`;
}

/**
 * {@link alwaysRefusal}, and the role: "always" changes the user's settings,
 * so a role without `changeSettings` may not give it (as `cordon policy set`).
 * The role is checked after the kind and the lock, whose messages say more.
 */
export function alwaysRefusalFor(kind: ApprovalKind, provenance: PolicyOrigins | null, role: RoleFeatures): string | null {
  const why = alwaysRefusal(kind, provenance);
  if (why !== null) return why;
  return role.features.changeSettings ? null : `cannot allow always: your organization's policy does not let role "${role.role}" change settings. Allow once or for a duration instead.`;
}
