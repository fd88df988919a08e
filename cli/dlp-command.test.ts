// `cordon dlp scan|redact` with the shared policy loader's results as plain values.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { Command } from 'commander';
import type { PolicyLoadResult } from '../core/policy/policy-loader.js';
import { DEFAULT_POLICY } from '../core/policy/policy-schema.js';
import { DLP_EXIT, registerDlpCommands } from './dlp-command.js';

async function run(args: string[], load: () => PolicyLoadResult, input: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let code: number | null = null;
  let stdout = '';
  let stderr = '';
  const program = new Command().exitOverride();
  registerDlpCommands(program, load, {
    stdin: Readable.from([Buffer.from(input)]),
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t) },
    setExitCode: (c) => {
      code = c;
    },
    readFile: () => Promise.reject(new Error('not used')),
  });
  await program.parseAsync(['node', 'cordon', 'dlp', ...args]);
  return { code, stdout, stderr };
}

const valid = (): PolicyLoadResult => ({ ok: true, policy: DEFAULT_POLICY, sources: [], provenance: { origins: new Map(), locked: new Map() } });
const invalid = (): PolicyLoadResult => ({ ok: false, issues: [{ source: '/etc/cordon/policy.json', path: 'dlp.corporateCidrs.0', message: 'must be an IPv4 or IPv6 CIDR' }] });

void test('an invalid policy ends scan and redact with exit 3, naming every issue', async () => {
  for (const cmd of ['scan', 'redact']) {
    const r = await run([cmd], invalid, 'hello');
    assert.equal(r.code, DLP_EXIT.policyInvalid, cmd);
    assert.equal(r.stdout, '', cmd);
    assert.match(r.stderr, /^cordon dlp: DLP policy is invalid: policy is invalid:\n {2}\/etc\/cordon\/policy\.json: dlp\.corporateCidrs\.0: must be an IPv4 or IPv6 CIDR/, cmd);
  }
  const thrown = await run(['scan'], () => {
    throw new Error('cannot read policy');
  }, 'hello');
  assert.equal(thrown.code, DLP_EXIT.policyInvalid);
  assert.equal(thrown.stderr, 'cordon dlp: DLP policy is invalid: cannot read policy\n');
});

void test('scan and redact use the loaded policy', async () => {
  const key = 'AKIA' + 'Z7QXKW4NB5TRPL2M';
  const scan = await run(['scan', '--json'], valid, `key ${key}\n`);
  assert.equal(scan.code, DLP_EXIT.findings);
  assert.ok(!scan.stdout.includes(key));
  const clean = await run(['redact'], valid, 'nothing here\n');
  assert.deepEqual([clean.code, clean.stdout], [DLP_EXIT.ok, 'nothing here\n']);
});
