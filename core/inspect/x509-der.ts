/**
 * The X.509 certificates Cordon issues for TLS inspection (issue 19), built
 * with `node:crypto` alone: a per-install CA and short-lived leaves for the
 * hosts policy inspects, all ECDSA P-256 with SHA-256.
 *
 * Why not a library: the certificate shapes are fixed and few, the encoder
 * only ever writes (it never parses anything untrusted), and every certificate
 * it makes is checked by Node's own `X509Certificate` and by `openssl verify`
 * in the tests. A dependency would have added a dozen packages to the launcher
 * for ~150 lines of DER.
 */
import { createHash, createPublicKey, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';

// ---- DER ---------------------------------------------------------------------

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
}

const seq = (...c: Buffer[]): Buffer => tlv(0x30, ...c);
const set = (...c: Buffer[]): Buffer => tlv(0x31, ...c);
const octets = (b: Buffer): Buffer => tlv(0x04, b);
const utf8 = (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8'));
const bool = (v: boolean): Buffer => tlv(0x01, Buffer.from([v ? 0xff : 0]));
/** A BIT STRING of whole bytes. */
const bits = (b: Buffer, unused = 0): Buffer => tlv(0x03, Buffer.from([unused]), b);

/** A non-negative INTEGER from big-endian bytes (minimal, with a 0 byte before a set high bit). */
function uint(bytes: Buffer): Buffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const b = bytes.subarray(i);
  return tlv(0x02, (b[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
}

function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out: number[] = [40 * (parts[0] ?? 0) + (parts[1] ?? 0)];
  for (const p of parts.slice(2)) {
    const chunk: number[] = [p & 0x7f];
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v & 0x7f));
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

/** UTCTime before 2050, GeneralizedTime from then on (RFC 5280 §4.1.2.5). */
function time(ms: number): Buffer {
  const d = new Date(Math.floor(ms / 1000) * 1000);
  const iso = d.toISOString().replace(/[-:T]/g, '').replace(/\.\d{3}Z$/, 'Z');
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(iso.slice(2), 'ascii')) : tlv(0x18, Buffer.from(iso, 'ascii'));
}

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  subjectAltName: '2.5.29.17',
  subjectKeyId: '2.5.29.14',
  authorityKeyId: '2.5.29.35',
} as const;

function name(commonName: string): Buffer {
  return seq(set(seq(oid(OID.organization), utf8('Cordon'))), set(seq(oid(OID.commonName), utf8(commonName))));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? seq(oid(id), bool(true), octets(value)) : seq(oid(id), octets(value));
}

/** The key identifier of a public key: the first 160 bits of SHA-256 over its SubjectPublicKeyInfo (RFC 7093 §2, method 4 in spirit). */
export function keyIdentifier(publicKey: KeyObject): Buffer {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest().subarray(0, 20);
}

// ---- certificates ------------------------------------------------------------

/** What a certificate is issued with. Times are ms since the epoch. */
export interface CertificateRequest {
  readonly subject: string;
  readonly publicKey: KeyObject;
  readonly notBefore: number;
  readonly notAfter: number;
  /** The issuer's name and key; absent: self-signed with `signingKey`. */
  readonly issuer?: { readonly name: string; readonly publicKey: KeyObject };
  /** ECDSA P-256 private key of the issuer (or of the subject, self-signed). */
  readonly signingKey: KeyObject;
  /** `ca`: a root that may sign leaves only (pathLen 0); `leaf`: a TLS server certificate for `names`. */
  readonly kind: 'ca' | 'leaf';
  /** DNS names or IP literals (leaf only). */
  readonly names?: readonly string[];
}

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  // IPv6: expand "::" and write 8 groups.
  const [head = '', tail = ''] = ip.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = ip.includes('::') ? (tail === '' ? [] : tail.split(':')) : [];
  const groups = ip.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** Builds and signs a certificate; returns its DER. */
export function issueCertificate(req: CertificateRequest): Buffer {
  const algorithm = seq(oid(OID.ecdsaWithSha256));
  const issuerName = req.issuer?.name ?? req.subject;
  const issuerKey = req.issuer?.publicKey ?? req.publicKey;
  // Positive, 127 random bits: unique enough that two leaves never share a serial.
  const serial = randomBytes(16);
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x01;
  const exts: Buffer[] = [];
  if (req.kind === 'ca') {
    exts.push(extension(OID.basicConstraints, true, seq(bool(true), uint(Buffer.from([0])))));
    // digitalSignature, keyCertSign, cRLSign: 1000 0110, one trailing unused bit.
    exts.push(extension(OID.keyUsage, true, bits(Buffer.from([0x86]), 1)));
  } else {
    exts.push(extension(OID.basicConstraints, true, seq()));
    // digitalSignature only: 1000 0000, seven unused bits.
    exts.push(extension(OID.keyUsage, true, bits(Buffer.from([0x80]), 7)));
    exts.push(extension(OID.extKeyUsage, false, seq(oid(OID.serverAuth))));
    const sans = (req.names ?? []).map((n) => (isIP(n) ? tlv(0x87, ipBytes(n)) : tlv(0x82, Buffer.from(n, 'ascii'))));
    exts.push(extension(OID.subjectAltName, false, seq(...sans)));
  }
  exts.push(extension(OID.subjectKeyId, false, octets(keyIdentifier(req.publicKey))));
  exts.push(extension(OID.authorityKeyId, false, seq(tlv(0x80, keyIdentifier(issuerKey)))));
  const tbs = seq(
    tlv(0xa0, uint(Buffer.from([2]))),
    uint(serial),
    algorithm,
    name(issuerName),
    seq(time(req.notBefore), time(req.notAfter)),
    name(req.subject),
    req.publicKey.export({ type: 'spki', format: 'der' }),
    tlv(0xa3, seq(...exts)),
  );
  const signature = sign('sha256', tbs, { key: req.signingKey, dsaEncoding: 'der' });
  return seq(tbs, algorithm, bits(signature));
}

/** PEM text of a DER certificate. */
export function certificatePem(der: Buffer): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

/** The public key of a private key (what a certificate must carry to match it). */
export function publicKeyOf(privateKey: KeyObject): KeyObject {
  return createPublicKey(privateKey);
}
