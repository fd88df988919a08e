/**
 * `cordon ca show|rotate`: the per-install TLS inspection CA (issue 19). The
 * CLI is an adapter; the CA lives in core/inspect. `show` reads the public
 * certificate only and never touches the keychain; `rotate` makes a new key
 * (in the keychain) and certificate, for sessions started from then on.
 */
import type { Command } from 'commander';
import { describeInspectionCa, inspectionCaDir, rotateInspectionCa } from '../core/inspect/inspection-ca.js';
import { KeyringCaKeySlot } from '../core/inspect/keyring-ca-slot.js';
import { EXIT } from './exit-codes.js';

export function registerCaCommands(program: Command, cordonHome: () => Promise<string>, setExitCode: (code: number) => void): void {
  const ca = program.command('ca').description('The TLS inspection CA that hosts in egress.inspect are re-signed with (its key stays in the OS keychain)');
  ca.command('show')
    .description('Print the inspection CA certificate: path, subject, SHA-256 fingerprint, validity (never the key)')
    .option('--pem', 'print the certificate itself (PEM) instead')
    .option('--json', 'print JSON: {"state":"present"|"absent", "path", "subject", "sha256", "notBefore", "notAfter"}')
    .action(async (options: { pem?: boolean; json?: boolean }) => {
      const d = describeInspectionCa(inspectionCaDir(await cordonHome()));
      if (options.json) {
        const summary = d ? { state: 'present', path: d.path, subject: d.subject, sha256: d.sha256, notBefore: d.notBefore, notAfter: d.notAfter } : { state: 'absent' };
        process.stdout.write(`${JSON.stringify(summary)}\n`);
        return;
      }
      if (!d) {
        process.stdout.write('No inspection CA yet: one is made when a session first inspects a host (egress.inspect), or with `cordon ca rotate`.\n');
        return;
      }
      if (options.pem) {
        process.stdout.write(d.certPem);
        return;
      }
      process.stdout.write(`path:      ${d.path}\nsubject:   ${d.subject}\nsha256:    ${d.sha256}\nnotBefore: ${d.notBefore}\nnotAfter:  ${d.notAfter}\nkey:       OS keychain (service cordon, account ca:inspection)\n`);
    });
  ca.command('rotate')
    .description('Make a new inspection CA (key in the OS keychain); sessions started from now on trust only the new one')
    .action(async () => {
      const dir = inspectionCaDir(await cordonHome());
      const r = await rotateInspectionCa(dir, new KeyringCaKeySlot());
      if (!r.ok) {
        process.stderr.write(`cordon: ${r.message}\n`);
        setExitCode(EXIT.checkFailed);
        return;
      }
      const d = describeInspectionCa(dir);
      process.stdout.write(`New inspection CA ${d?.sha256 ?? ''} written to ${d?.path ?? dir}; running sessions keep the one they started with.\n`);
    });
}
