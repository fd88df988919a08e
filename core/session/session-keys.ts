import type { AuditSink } from '../audit/audit-event.js';
import { deny, type Deny } from '../decision.js';
import type { RequestFilter } from '../egress/model-route.js';
import { systemClock, type Clock } from '../keys/clock.js';
import { CommandCredentialSource, KeyStoreCredentialSource, type CredentialSource } from '../keys/credential-source.js';
import type { KeyStore } from '../keys/key-store.js';
import { createKeySwapFilter } from '../keys/key-swap-filter.js';
import { PHANTOM_IN_TEXT, PhantomAuthority } from '../keys/phantom.js';
import type { CompiledPolicy } from '../policy/compiled-policy.js';
import type { SandboxProfile } from '../profiles/profile-schema.js';

/**
 * Keys for one session (issue 4): the sandbox gets a phantom token in the
 * profile's key variable; the model route's first filter swaps it for the
 * real key (from the OS keychain, or the provider's credential command) on the
 * way to the vendor. The real key is read on the host at request time and
 * exists nowhere in the sandbox.
 *
 * The model route carries this session's phantom and nothing else (issue 12):
 * a request to a provider the session holds no phantom for is refused, so an
 * agent cannot send an outside API key (an attacker's) through the route, and
 * a request to the session's own provider must carry the live phantom.
 */
export interface SessionKeys {
  /** Variables for the sandbox: the phantom only (empty when the profile names no provider). */
  readonly env: Readonly<Record<string, string>>;
  readonly filter: RequestFilter;
  /** Applies a changed `keys.phantomTtlMinutes` to the live phantom (policy reload). */
  setTtlMinutes(minutes: number): void;
  /** Kills the phantom at once (stop, quarantine, teardown). */
  revoke(): void;
}

export function setupSessionKeys(opts: {
  readonly sessionId: string;
  readonly profile: SandboxProfile;
  /** The session's compiled policy: the provider's host comes from its `providerHosts`. */
  readonly policy: CompiledPolicy;
  readonly audit: AuditSink;
  readonly keyStore: () => KeyStore;
  readonly clock?: Clock;
}): SessionKeys {
  const clock = opts.clock ?? systemClock;
  const want = opts.profile.provider;
  const provider = want ? opts.policy.effective.providers[want.name] : undefined;
  const providerHost = want ? opts.policy.providerHosts.get(want.name) : undefined;
  const refuseForeign = foreignProviderGuard(opts.sessionId, want?.name ?? null, opts.audit);
  if (!want || !provider || providerHost === undefined) {
    return { env: {}, filter: { name: 'key-swap', apply: (req) => Promise.resolve(refuseForeign(req.provider, req.headers)) }, setTtlMinutes: () => undefined, revoke: () => undefined };
  }
  const authority = new PhantomAuthority({ clock, ttlMs: opts.policy.effective.keys.phantomTtlMinutes * 60_000 });
  const grant = authority.issue({ sessionId: opts.sessionId, provider: want.name, providerHost });
  const credential: CredentialSource = provider.credentialCommand
    ? new CommandCredentialSource({ provider: want.name, argv: provider.credentialCommand, clock })
    : new KeyStoreCredentialSource({ store: opts.keyStore(), provider: want.name, clock });
  const swap = createKeySwapFilter({ authority, sessionId: opts.sessionId, provider: want.name, providerHost, header: want.header, credential, audit: opts.audit });
  const filter: RequestFilter = {
    name: 'key-swap',
    apply: async (req) => {
      if (req.provider !== want.name) return refuseForeign(req.provider, req.headers);
      // The request's own destination, not the host captured at start: a
      // reload that points the provider elsewhere makes the binding refuse.
      // The key swap answers in the chain's own shape: deny (with its status) or rewrite.
      return swap({ host: req.host, headers: req.headers });
    },
  };
  return {
    env: { [want.keyEnv]: grant.token },
    filter,
    setTtlMinutes: (minutes) => authority.setTtl(minutes * 60_000),
    revoke: () => {
      authority.revoke(opts.sessionId);
      authority.dispose();
    },
  };
}

/**
 * The answer to a model-route request for a provider this session holds no
 * phantom for. Always a refusal: whatever credential it carries is either this
 * session's phantom (good only for its own provider) or an outside key that
 * Cordon has not vouched for. Audited, with no header value in the record.
 */
function foreignProviderGuard(sessionId: string, own: string | null, audit: AuditSink) {
  return (provider: string, headers: Readonly<Record<string, string>>): Deny<'wrong_provider' | 'no_session_key', { readonly status: 403 }> => {
    const phantom = Object.values(headers).some((v) => PHANTOM_IN_TEXT.test(v));
    const credential = phantom || headers['x-api-key'] !== undefined || headers['authorization'] !== undefined;
    const reason = phantom ? 'wrong_provider' : 'no_session_key';
    audit.record({
      kind: 'key.phantom_rejected',
      ocsfClass: 'detection_finding',
      activity: { id: 1, name: 'Create' },
      outcome: 'failure',
      // An outside key on the model route is what an exfiltration attempt looks like.
      severity: credential ? 'high' : 'medium',
      message: phantom
        ? `a phantom token was sent to provider ${provider}; it is only valid for ${own ?? 'no provider'}`
        : `a model request to provider ${provider} was refused: this session holds no key for it${credential ? ' (it carried an outside credential)' : ''}`,
      sessionId,
      details: { reason, provider, outside_credential: credential && !phantom },
    });
    const message = phantom
      ? `the phantom token was issued for ${own ?? 'no provider'}, not ${provider}`
      : `this session holds no key for provider ${provider}; the model route only carries the session's own phantom token`;
    return deny(reason, message, { status: 403 });
  };
}
