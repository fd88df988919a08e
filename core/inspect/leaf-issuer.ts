/**
 * Leaf certificates for inspected hosts (issue 19, item 2): one per host,
 * signed by the inspection CA, cached (LRU, bounded) with its TLS context.
 *
 * Every leaf of one issuer shares one key pair made when the issuer is: a
 * new host then costs one ECDSA signature and one secure context, not a key
 * generation. Threats: docs/threat-model-inspection.md (I3, I14).
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import tls from 'node:tls';
import type { InspectionCa } from './inspection-ca.js';
import { certificatePem, issueCertificate } from './x509-der.js';

/** A day: long enough for any session's tunnel, short enough that a copied leaf is soon useless. */
export const LEAF_LIFETIME_MS = 24 * 3600 * 1000;
/** A leaf closer than this to its end is re-issued. */
const RENEW_BEFORE_MS = 3600 * 1000;
export const DEFAULT_LEAF_CACHE_SIZE = 256;

export interface Leaf {
  readonly host: string;
  readonly certPem: string;
  readonly notAfter: number;
  readonly context: tls.SecureContext;
}

export class LeafIssuer {
  private readonly key: KeyObject;
  private readonly publicKey: KeyObject;
  private readonly keyPem: string;
  private readonly cache = new Map<string, Leaf>();
  /** Leaves issued (cache misses), for tests and the benchmark. */
  issued = 0;

  constructor(
    private readonly ca: InspectionCa,
    private readonly now: () => number = Date.now,
    private readonly maxEntries = DEFAULT_LEAF_CACHE_SIZE,
  ) {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.key = pair.privateKey;
    this.publicKey = pair.publicKey;
    this.keyPem = this.key.export({ type: 'pkcs8', format: 'pem' }).toString();
  }

  /** The leaf for HOST (a normalised host name or IP literal, as the destination decision gave it). */
  leafFor(host: string): Leaf {
    const t = this.now();
    const hit = this.cache.get(host);
    if (hit && hit.notAfter - RENEW_BEFORE_MS > t) {
      this.cache.delete(host);
      this.cache.set(host, hit);
      return hit;
    }
    const notAfter = t + LEAF_LIFETIME_MS;
    const der = issueCertificate({
      kind: 'leaf',
      subject: host,
      names: [host],
      publicKey: this.publicKey,
      signingKey: this.ca.key,
      issuer: { name: this.ca.subject, publicKey: this.ca.publicKey },
      // Back-dated an hour for clocks that run behind.
      notBefore: t - 3600_000,
      notAfter,
    });
    const certPem = certificatePem(der);
    const leaf: Leaf = { host, certPem, notAfter, context: tls.createSecureContext({ key: this.keyPem, cert: certPem + this.ca.certPem }) };
    this.issued++;
    this.cache.set(host, leaf);
    while (this.cache.size > this.maxEntries) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
    return leaf;
  }

  get size(): number {
    return this.cache.size;
  }
}
