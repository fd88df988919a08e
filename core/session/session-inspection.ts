/**
 * TLS inspection and service credentials for one session (issue 19): the
 * inspection CA (only when policy inspects a host), the trust files the
 * sandbox reads, the service credentials' phantoms, and the filters the
 * proxy runs inside inspected tunnels. Threats: docs/threat-model-inspection.md.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditSink } from '../audit/audit-event.js';
import type { CompiledDlpPolicy } from '../dlp/policy.js';
import { systemCas } from '../egress/model-route-handler.js';
import type { EgressProxyOptions } from '../egress/egress-proxy-options.js';
import { loadOrCreateInspectionCa, inspectionCaDir, type CaKeySlot } from '../inspect/inspection-ca.js';
import { LeafIssuer } from '../inspect/leaf-issuer.js';
import { setupServiceCredentials, type CredentialSetChange, type ServiceCredentials } from '../inspect/service-credentials.js';
import type { Clock } from '../keys/clock.js';
import { CommandCredentialSource, KeyStoreCredentialSource } from '../keys/credential-source.js';
import type { KeyStore } from '../keys/key-store.js';
import type { CompiledPolicy } from '../policy/compiled-policy.js';
import type { PlannedMount } from '../workspace/mount-plan.js';

/** Where the sandbox finds Cordon's CA (alone) and the bundle (the host's system CAs plus Cordon's). */
export const SANDBOX_TRUST_DIR = '/run/cordon/trust';
export const SANDBOX_CA_FILE = `${SANDBOX_TRUST_DIR}/cordon-ca.crt`;
export const SANDBOX_CA_BUNDLE = `${SANDBOX_TRUST_DIR}/ca-bundle.crt`;
/**
 * One file per service credential, named by its variable, holding its
 * phantom: how a credential added by a policy reload reaches a sandbox whose
 * environment is fixed (the ones there at start are in the environment too).
 */
export const SANDBOX_CREDENTIALS_DIR = '/run/cordon/credentials';

export interface SessionInspection {
  /** Variables for the sandbox: the credentials' phantoms (before Cordon's own variables). */
  readonly credentialEnv: Readonly<Record<string, string>>;
  /** Trust variables, set last with the proxy's; empty when nothing is inspected. */
  readonly trustEnv: Readonly<Record<string, string>>;
  readonly mounts: readonly PlannedMount[];
  /** What the proxy needs, once DLP is loaded. */
  proxyOptions(dlpPolicy: CompiledDlpPolicy): Promise<Pick<EgressProxyOptions, 'inspection' | 'inspectFilters' | 'inspectTransforms' | 'inspectHeaderMask'>>;
  setDlpPolicy(policy: CompiledDlpPolicy): void;
  /**
   * A policy reload's `credentials`: the set in force changes at once (see
   * ServiceCredentials.update), and the folder the sandbox reads phantoms
   * from follows it. Returns what changed, by name.
   */
  setCredentials(credentials: CompiledPolicy['effective']['credentials']): CredentialSetChange;
  revoke(): void;
}

export type InspectionResult = { readonly ok: true; readonly value: SessionInspection } | { readonly ok: false; readonly message: string };

export async function setupSessionInspection(opts: {
  readonly sessionId: string;
  readonly sessionDir: string;
  readonly cordonHome: string;
  readonly policy: CompiledPolicy;
  readonly audit: AuditSink;
  readonly keyStore: () => KeyStore;
  readonly caKeySlot: () => CaKeySlot;
  /** The CA certificate's folder; absent, `inspectionCaDir(cordonHome)` (the install's CA). */
  readonly caDir?: string;
  readonly clock: Clock;
}): Promise<InspectionResult> {
  const credentials: ServiceCredentials = setupServiceCredentials({
    sessionId: opts.sessionId,
    credentials: opts.policy.effective.credentials,
    audit: opts.audit,
    sourceFor: (name, p) => (p.credentialCommand ? new CommandCredentialSource({ provider: name, argv: p.credentialCommand, clock: opts.clock }) : new KeyStoreCredentialSource({ store: opts.keyStore(), provider: name, clock: opts.clock })),
  });
  const inspects = (opts.policy.egress.inspect ?? []).length > 0;
  let leaves: LeafIssuer | null = null;
  // Mounted in every session, empty when policy names no credential: a reload may add one.
  const credentialsDir = join(opts.sessionDir, 'credentials');
  mkdirSync(credentialsDir, { mode: 0o755 });
  writePhantomFiles(credentialsDir, credentials.currentEnv());
  const mounts: PlannedMount[] = [{ hostPath: credentialsDir, containerPath: SANDBOX_CREDENTIALS_DIR, readOnly: true, kind: 'cordon' }];
  let trustEnv: Record<string, string> = {};
  if (inspects) {
    // Fail closed: a session that should inspect and cannot does not start (no fallback key, no opaque tunnels).
    const ca = await loadOrCreateInspectionCa(opts.caDir ?? inspectionCaDir(opts.cordonHome), opts.caKeySlot());
    if (!ca.ok) return { ok: false, message: `egress.inspect needs the inspection CA: ${ca.message}` };
    leaves = new LeafIssuer(ca.value);
    // Certificates only, never the key. The bundle is the host's system store plus Cordon's CA: the image's own
    // store cannot be read from the host, and SSL_CERT_FILE replaces it, so opaque tunnels need the public roots too.
    const dir = join(opts.sessionDir, 'trust');
    mkdirSync(dir, { mode: 0o755 });
    writeFileSync(join(dir, 'cordon-ca.crt'), ca.value.certPem, { mode: 0o644 });
    writeFileSync(join(dir, 'ca-bundle.crt'), `${systemCas().join('\n')}\n${ca.value.certPem}`, { mode: 0o644 });
    mounts.push({ hostPath: dir, containerPath: SANDBOX_TRUST_DIR, readOnly: true, kind: 'cordon' });
    trustEnv = { NODE_EXTRA_CA_CERTS: SANDBOX_CA_FILE, SSL_CERT_FILE: SANDBOX_CA_BUNDLE, REQUESTS_CA_BUNDLE: SANDBOX_CA_BUNDLE, CURL_CA_BUNDLE: SANDBOX_CA_BUNDLE, GIT_SSL_CAINFO: SANDBOX_CA_BUNDLE };
  }
  let setDlp: (p: CompiledDlpPolicy) => void = () => undefined;
  return {
    ok: true,
    value: {
      credentialEnv: credentials.env,
      trustEnv,
      mounts,
      proxyOptions: async (dlpPolicy) => {
        const { createInspectDlp } = await import('../dlp/inspect-dlp.js');
        const dlp = createInspectDlp({ sessionId: opts.sessionId, policy: dlpPolicy, audit: opts.audit, unscannedHeaders: (r) => credentials.swappedHeaders(r) });
        setDlp = (p) => dlp.setPolicy(p);
        return {
          inspection: leaves ? { leaves } : null,
          // The swap first: DLP then sees the request as it will leave, without the credential header it wrote.
          inspectFilters: [credentials.filter, dlp.filter],
          inspectTransforms: [credentials.responseTransform],
          inspectHeaderMask: (r, v) => credentials.maskHeader(r, v),
        };
      },
      setDlpPolicy: (p) => setDlp(p),
      setCredentials: (c) => {
        const change = credentials.update(c);
        writePhantomFiles(credentialsDir, credentials.currentEnv());
        return change;
      },
      revoke: () => credentials.revoke(),
    },
  };
}

/** Makes DIR hold exactly one file per variable, its phantom inside (a phantom is no secret from the sandbox: its own environment holds it). */
function writePhantomFiles(dir: string, env: Readonly<Record<string, string>>): void {
  for (const name of readdirSync(dir)) if (!(name in env)) rmSync(join(dir, name), { force: true });
  for (const [name, phantom] of Object.entries(env)) writeFileSync(join(dir, name), `${phantom}\n`, { mode: 0o644 });
}
