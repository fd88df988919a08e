import type { AuditSink } from '../audit/audit-event.js';
import type { RequestFilter } from '../egress/model-route.js';
import { systemClock } from '../keys/clock.js';
import { CommandCredentialSource, KeyStoreCredentialSource, type CredentialSource } from '../keys/credential-source.js';
import type { KeyStore } from '../keys/key-store.js';
import { createKeySwapFilter } from '../keys/key-swap-filter.js';
import { PHANTOM_IN_TEXT, PhantomAuthority } from '../keys/phantom.js';
import type { EffectivePolicy } from '../policy/policy-schema.js';
import type { SandboxProfile } from '../profiles/profile-schema.js';

/**
 * Keys for one session (issue 4): the sandbox gets a phantom token in the
 * profile's key variable; the model route's first filter swaps it for the
 * real key (from the OS keychain, or the provider's credential command) on the
 * way to the vendor. The real key is read on the host at request time and
 * exists nowhere in the sandbox.
 */
export interface SessionKeys {
  /** Variables for the sandbox: the phantom only. */
  readonly env: Readonly<Record<string, string>>;
  readonly filter: RequestFilter;
  /** Kills the phantom at once (stop, quarantine, teardown). */
  revoke(): void;
}

export function setupSessionKeys(opts: {
  readonly sessionId: string;
  readonly profile: SandboxProfile;
  readonly policy: EffectivePolicy;
  readonly audit: AuditSink;
  readonly keyStore: () => KeyStore;
}): SessionKeys | null {
  const want = opts.profile.provider;
  if (!want) return null;
  const provider = opts.policy.providers[want.name];
  if (!provider) return null;
  const providerHost = new URL(provider.baseUrl).hostname;
  const authority = new PhantomAuthority({ clock: systemClock, ttlMs: opts.policy.keys.phantomTtlMinutes * 60_000 });
  const grant = authority.issue({ sessionId: opts.sessionId, provider: want.name, providerHost });
  const credential: CredentialSource = provider.credentialCommand
    ? new CommandCredentialSource({ provider: want.name, argv: provider.credentialCommand, clock: systemClock })
    : new KeyStoreCredentialSource({ store: opts.keyStore(), provider: want.name, clock: systemClock });
  const swap = createKeySwapFilter({ authority, sessionId: opts.sessionId, provider: want.name, providerHost, header: want.header, credential, audit: opts.audit });
  const filter: RequestFilter = {
    name: 'key-swap',
    apply: async (req) => {
      if (req.provider !== want.name) {
        // This session's phantom is only good for its own provider.
        const carries = Object.values(req.headers).some((v) => PHANTOM_IN_TEXT.test(v));
        if (!carries) return { action: 'allow' };
        opts.audit.record({
          kind: 'key.phantom_rejected',
          ocsfClass: 'detection_finding',
          activity: { id: 1, name: 'Create' },
          outcome: 'failure',
          severity: 'high',
          message: `a phantom token was sent to provider ${req.provider}; it is only valid for ${want.name}`,
          sessionId: opts.sessionId,
          details: { reason: 'wrong_provider', provider: req.provider },
        });
        return { action: 'reject', status: 403, reason: 'wrong_provider', message: `the phantom token was issued for ${want.name}, not ${req.provider}` };
      }
      const r = await swap({ host: providerHost, headers: req.headers });
      return r.action === 'rewrite' ? { action: 'rewrite', headers: r.headers } : { action: 'reject', status: r.status, reason: r.reason, message: r.message };
    },
  };
  return {
    env: { [want.keyEnv]: grant.token },
    filter,
    revoke: () => {
      authority.revoke(opts.sessionId);
      authority.dispose();
    },
  };
}
