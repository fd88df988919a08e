import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, describe, test } from 'node:test';
import { CA_CERT_FILE, describeInspectionCa, loadOrCreateInspectionCa, MemoryCaKeySlot, rotateInspectionCa, type InspectionCa } from './inspection-ca.js';
import { LEAF_LIFETIME_MS, LeafIssuer } from './leaf-issuer.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'cordon-ca-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function freshCa(): Promise<{ dir: string; slot: MemoryCaKeySlot; ca: InspectionCa }> {
  const dir = join(tempDir(), 'inspection-ca');
  const slot = new MemoryCaKeySlot();
  const r = await loadOrCreateInspectionCa(dir, slot);
  assert.ok(r.ok, r.ok ? '' : r.message);
  return { dir, slot, ca: r.value };
}

/** Every spelling of the key a careless write could leave behind. */
function keySpellings(slot: MemoryCaKeySlot, ca: InspectionCa): string[] {
  const der = Buffer.from(slot.value ?? '', 'base64url');
  return [slot.value ?? '', der.toString('base64'), der.toString('hex'), ca.key.export({ type: 'pkcs8', format: 'pem' }).toString().split('\n')[1] ?? '', ca.key.export({ type: 'sec1', format: 'pem' }).toString().split('\n')[1] ?? ''];
}

function allFileText(dir: string): string {
  let out = '';
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) {
      const b = readFileSync(join(e.parentPath, e.name));
      out += b.toString('latin1') + b.toString('hex') + b.toString('base64');
    }
  }
  return out;
}

describe('inspection CA', () => {
  test('first use makes a CA: a CA certificate on disk, its key in the keychain slot only', async () => {
    const { dir, slot, ca } = await freshCa();
    const cert = new X509Certificate(readFileSync(join(dir, CA_CERT_FILE)));
    assert.equal(cert.ca, true);
    assert.ok(cert.checkPrivateKey(ca.key));
    assert.match(cert.subject, /CN=Cordon inspection CA/);
    assert.ok(slot.value && slot.value.length > 100);
    assert.equal(statSync(join(dir, CA_CERT_FILE)).mode & 0o777, 0o644);
    const text = allFileText(dir);
    for (const spelling of keySpellings(slot, ca)) assert.ok(spelling.length > 20 && !text.includes(spelling), 'the CA key is on disk');
    // openssl agrees it is a CA that may sign certificates.
    const out = execFileSync('openssl', ['x509', '-in', join(dir, CA_CERT_FILE), '-noout', '-text'], { encoding: 'utf8' });
    assert.match(out, /CA:TRUE, pathlen:0/);
    assert.match(out, /Certificate Sign/);
  });

  test('a second load gives the same CA; a rotation a different one', async () => {
    const { dir, slot, ca } = await freshCa();
    const again = await loadOrCreateInspectionCa(dir, slot);
    assert.ok(again.ok);
    assert.equal(again.value.certPem, ca.certPem);
    const before = describeInspectionCa(dir);
    const rotated = await rotateInspectionCa(dir, slot);
    assert.ok(rotated.ok);
    const afterRotation = describeInspectionCa(dir);
    assert.notEqual(afterRotation?.sha256, before?.sha256);
    assert.ok(new X509Certificate(rotated.value.certPem).checkPrivateKey(rotated.value.key));
    assert.ok(!new X509Certificate(rotated.value.certPem).checkPrivateKey(ca.key));
  });

  test('a locked keychain is an error and nothing is made', async () => {
    const dir = join(tempDir(), 'inspection-ca');
    const slot = new MemoryCaKeySlot();
    slot.failWith = { code: 'locked', message: 'the keychain is locked or refused access: unlock it' };
    const r = await loadOrCreateInspectionCa(dir, slot);
    assert.equal(r.ok, false);
    assert.ok(!r.ok && r.code === 'keychain' && /locked/.test(r.message));
    assert.equal(describeInspectionCa(dir), null, 'a certificate was written without a stored key');
  });

  test('a certificate that does not belong to the stored key is refused, not trusted', async () => {
    const { dir, slot } = await freshCa();
    const other = await freshCa();
    writeFileSync(join(dir, CA_CERT_FILE), other.ca.certPem);
    const r = await loadOrCreateInspectionCa(dir, slot);
    assert.ok(!r.ok && r.code === 'mismatch', JSON.stringify(r));
  });

  test('show reads the certificate only, and says so when there is none', async () => {
    assert.equal(describeInspectionCa(join(tempDir(), 'none')), null);
    const { dir } = await freshCa();
    const d = describeInspectionCa(dir);
    assert.ok(d);
    assert.match(d.sha256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.ok(Date.parse(d.notAfter) - Date.now() > 9 * 365 * 24 * 3600 * 1000);
  });
});

describe('leaf certificates', () => {
  test('a leaf verifies against the CA with openssl, for its name only, as a server certificate', async () => {
    const { dir, ca } = await freshCa();
    const issuer = new LeafIssuer(ca);
    const leaf = issuer.leafFor('inspected.test');
    const file = join(dir, 'leaf.pem');
    writeFileSync(file, leaf.certPem);
    const ok = execFileSync('openssl', ['verify', '-CAfile', join(dir, CA_CERT_FILE), '-purpose', 'sslserver', '-verify_hostname', 'inspected.test', file], { encoding: 'utf8' });
    assert.match(ok, /OK/);
    assert.throws(() => execFileSync('openssl', ['verify', '-CAfile', join(dir, CA_CERT_FILE), '-verify_hostname', 'other.test', file], { stdio: 'pipe' }));
    const x = new X509Certificate(leaf.certPem);
    assert.equal(x.ca, false);
    assert.ok(x.checkIssued(new X509Certificate(ca.certPem)));
    assert.ok(Date.parse(x.validTo) - Date.now() <= LEAF_LIFETIME_MS);
    const ipLeaf = new X509Certificate(issuer.leafFor('127.0.0.1').certPem);
    assert.equal(ipLeaf.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(new X509Certificate(issuer.leafFor('2001:db8::1').certPem).checkIP('2001:db8::1'), '2001:db8::1');
  });

  test('a real TLS handshake with the leaf succeeds for its name and fails for another', async () => {
    const { ca } = await freshCa();
    const issuer = new LeafIssuer(ca);
    const server = createServer((raw) => {
      const s = new tls.TLSSocket(raw, { isServer: true, secureContext: issuer.leafFor('inspected.test').context });
      s.on('error', () => s.destroy());
      s.on('secure', () => s.end('hello'));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const connect = (servername: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const c = tls.connect({ host: '127.0.0.1', port, servername, ca: ca.certPem }, () => {
          let got = '';
          c.on('data', (d: Buffer) => (got += d.toString()));
          c.on('end', () => resolve(got));
        });
        c.on('error', reject);
      });
    try {
      assert.equal(await connect('inspected.test'), 'hello');
      await assert.rejects(connect('other.test'), /altnames|ERR_TLS_CERT_ALTNAME_INVALID/i);
    } finally {
      server.close();
    }
  });

  test('leaves are cached per host, bounded, and re-issued near their end', async () => {
    const { ca } = await freshCa();
    let now = Date.now();
    const issuer = new LeafIssuer(ca, () => now, 3);
    const a = issuer.leafFor('a.test');
    assert.equal(issuer.leafFor('a.test'), a);
    assert.equal(issuer.issued, 1);
    issuer.leafFor('b.test');
    issuer.leafFor('c.test');
    issuer.leafFor('a.test'); // refresh a: b is now the oldest
    issuer.leafFor('d.test');
    assert.equal(issuer.size, 3);
    assert.equal(issuer.issued, 4);
    issuer.leafFor('b.test');
    assert.equal(issuer.issued, 5, 'b was not evicted');
    now += LEAF_LIFETIME_MS - 1800_000;
    assert.notEqual(issuer.leafFor('a.test'), a, 'a leaf half an hour from its end was reused');
  });
});
