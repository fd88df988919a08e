/**
 * Throwaway TLS material for the egress tests and the proxy benchmark: a test
 * CA and a server certificate for 127.0.0.1 / ::1 / localhost and any extra
 * names, made with the `openssl` CLI in a fresh temporary folder. Used by
 * tests, benchmarks and `cordon demo`'s stand-in model, never for real
 * traffic; the keys die with the folder.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** PEM strings plus the folder that holds them (`caFile` is a path inside it). */
export interface TestCerts {
  readonly dir: string;
  readonly caPem: string;
  readonly caFile: string;
  readonly keyPem: string;
  readonly certPem: string;
  /** Removes the folder. */
  cleanup(): void;
}

/** Creates a CA and a server certificate signed by it. Throws with openssl's message if openssl is missing. */
export function makeTestCerts(extraNames: readonly string[] = []): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'cordon-certs-'));
  const run = (args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  };
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=Cordon Test CA']);
  run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost']);
  const san = ['DNS:localhost', 'IP:127.0.0.1', 'IP:::1', ...extraNames.map((n) => `DNS:${n}`)].join(',');
  writeFileSync(join(dir, 'ext.cnf'), `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n`);
  run(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'ext.cnf']);
  return {
    dir,
    caPem: readFileSync(join(dir, 'ca.pem'), 'utf8'),
    caFile: join(dir, 'ca.pem'),
    keyPem: readFileSync(join(dir, 'server.key'), 'utf8'),
    certPem: readFileSync(join(dir, 'server.pem'), 'utf8'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
