import { readFileSync, writeFileSync } from 'node:fs';
import { policyJsonSchema } from '../core/policy/policy-json-schema.js';
import { parsePolicyText, validatePolicyFile } from '../core/policy/policy-loader.js';
import { changeUserSetting } from '../core/policy/user-settings.js';
import { bundleMetaFromOptions, bundlePathFor, signatureFileFor, signBundle } from '../core/policy/signed-bundle.js';
import { profileJsonSchema } from '../core/profiles/profile-json-schema.js';
import { CliExit, type CliContext } from './cli-context.js';
import { EXIT } from './exit-codes.js';
import { formatPolicyIssue } from '../core/policy/policy-schema.js';

/**
 * `cordon policy show`: the effective policy with the source of every value
 * (default, user, recommended, managed) and which fields are locked, like
 * chrome://policy.
 */
export function policyShow(ctx: CliContext, opts: { json?: boolean }): number {
  const res = ctx.loadedPolicy();
  const view = ctx.service.effectivePolicy(res);
  const rows = view.values;
  const sources = res.sources.map((s) => ({ kind: s.kind, file: s.file, ...(s.signed ? { signed: s.signed } : {}) }));
  if (opts.json) {
    process.stdout.write(JSON.stringify({ policy: res.policy, values: rows, sources }, null, 2) + '\n');
    return EXIT.ok;
  }
  process.stdout.write(`sources, lowest precedence first: built-in defaults${sources.map((s) => `, ${s.kind} ${s.file}${s.signed ? ` (signed, key ${s.signed.keyId}, serial ${s.signed.serial})` : ''}`).join('')}\n\n`);
  const width = Math.min(48, Math.max(...rows.map((r) => r.path.length)) + 2);
  for (const r of rows) {
    const v = JSON.stringify(r.value);
    process.stdout.write(`${r.path.padEnd(width)} ${(r.source + (r.locked ? ' (locked)' : '')).padEnd(22)} ${v.length > 90 ? `${v.slice(0, 87)}...` : v}\n`);
  }
  return EXIT.ok;
}

/**
 * `cordon policy set PATH VALUE`: changes the user's own settings file
 * (core/policy/user-settings.ts). A field that managed policy sets is locked,
 * and a role without `changeSettings` may change nothing.
 */
export function policySet(ctx: CliContext, path: string, rawValue: string): number {
  const res = ctx.loadedPolicy();
  const role = ctx.service.features();
  if (!role.features.changeSettings) {
    throw new CliExit(EXIT.checkFailed, `your organization's policy does not let this machine's role "${role.role}" change settings (features.${role.role}.changeSettings is false${role.roleSource ? ` in ${role.roleSource}` : ''})`);
  }
  const change = changeUserSetting(ctx.paths.userPolicyFile, res.provenance, path, rawValue);
  if (change.kind === 'deny') throw new CliExit(EXIT.checkFailed, change.message);
  process.stdout.write(`${path} = ${JSON.stringify(change.value)} (in ${change.file})\n`);
  return EXIT.ok;
}

/** `cordon policy sign --key FILE POLICY`: writes POLICY.bundle.json and its .sig for IT to deploy. */
export function policySign(file: string, opts: { key: string; serial: string; validFor?: string; issuedAt?: string }): number {
  const text = readFileSync(file, 'utf8');
  const parsed = parsePolicyText(file, text);
  if (!parsed.ok) throw new CliExit(EXIT.checkFailed, `not signed, the policy is invalid:\n${parsed.issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`);
  const meta = bundleMetaFromOptions({ serial: opts.serial, ...(opts.validFor !== undefined ? { validFor: opts.validFor } : {}), ...(opts.issuedAt !== undefined ? { issuedAt: opts.issuedAt } : {}) }, new Date());
  if (!meta.ok) throw new CliExit(EXIT.usage, meta.message);
  let keyPem: string;
  try {
    keyPem = readFileSync(opts.key, 'utf8');
  } catch (err) {
    throw new CliExit(EXIT.usage, `cannot read the signing key ${opts.key}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  const signed = signBundle(parsed.raw, keyPem, meta.meta);
  if (!signed.ok) throw new CliExit(EXIT.checkFailed, signed.message);
  const out = bundlePathFor(file);
  writeFileSync(out, signed.bundleText);
  writeFileSync(signatureFileFor(out), signed.signature + '\n');
  process.stdout.write(`wrote ${out} and ${signatureFileFor(out)} (key ${signed.keyId}, serial ${meta.meta.serial}, expires ${meta.meta.expiresAt.toISOString()})\n`);
  return EXIT.ok;
}

export function policyValidate(file: string): number {
  const issues = validatePolicyFile(file);
  if (issues.length === 0) {
    process.stdout.write(`${file}: valid\n`);
    return EXIT.ok;
  }
  for (const i of issues) process.stdout.write(`${formatPolicyIssue(i)}\n`);
  return EXIT.checkFailed;
}

export function policySchema(): number {
  process.stdout.write(JSON.stringify(policyJsonSchema(), null, 2) + '\n');
  return EXIT.ok;
}

export function profileSchema(): number {
  process.stdout.write(JSON.stringify(profileJsonSchema(), null, 2) + '\n');
  return EXIT.ok;
}
