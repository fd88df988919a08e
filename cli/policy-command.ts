import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { policyJsonSchema } from '../core/policy/policy-json-schema.js';
import { leafPaths, parsePolicyText, validatePolicyFile, valueAt } from '../core/policy/policy-loader.js';
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
  const effective = res.policy as unknown as Record<string, unknown>;
  const rows = leafPaths(effective).map((path) => {
    const origin = res.provenance.origins.get(path) ?? originOfParent(path, res.provenance.origins);
    const lock = res.provenance.locked.get(path) ?? originOfParent(path, res.provenance.locked);
    return { path, value: valueAt(effective, path), source: origin?.kind ?? 'default', file: origin?.file ?? null, locked: lock !== undefined };
  });
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
 * `cordon policy set PATH VALUE`: changes the user's own settings file. A
 * field that managed policy sets is locked: the change is refused, naming the
 * source that manages it. The result must validate, or nothing is written.
 */
export function policySet(ctx: CliContext, path: string, rawValue: string): number {
  const res = ctx.loadedPolicy();
  const lock = res.provenance.locked.get(path) ?? originOfParent(path, res.provenance.locked) ?? childLock(path, res.provenance.locked);
  if (lock) {
    throw new CliExit(EXIT.checkFailed, `${path} is locked by ${lock.kind === 'managed' ? 'mandatory' : 'recommended'} managed policy (${lock.file}); ask your IT administrator to change it`);
  }
  let value: unknown;
  try {
    value = JSON.parse(rawValue);
  } catch {
    value = rawValue; // a bare word is a string
  }
  const file = ctx.paths.userPolicyFile;
  let doc: Record<string, unknown> = {};
  try {
    doc = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    // No settings yet.
  }
  setPath(doc, path.split('.'), value);
  const text = JSON.stringify(doc, null, 2) + '\n';
  const check = parsePolicyText(file, text);
  if (!check.ok) throw new CliExit(EXIT.checkFailed, `not changed: ${check.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(`${file}.tmp`, text, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
  process.stdout.write(`${path} = ${JSON.stringify(value)} (in ${file})\n`);
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

function setPath(doc: Record<string, unknown>, keys: readonly string[], value: unknown): void {
  let cur = doc;
  keys.forEach((k, i) => {
    if (i === keys.length - 1) {
      cur[k] = value;
      return;
    }
    const next = cur[k];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  });
}

/** A managed source that sets a whole object (say `providers.anthropic`) also governs its fields. */
function originOfParent<T>(path: string, map: ReadonlyMap<string, T>): T | undefined {
  const parts = path.split('.');
  for (let i = parts.length - 1; i > 0; i--) {
    const hit = map.get(parts.slice(0, i).join('.'));
    if (hit) return hit;
  }
  return undefined;
}

/** Setting a whole object (say `egress`) is refused if managed policy sets any field inside it. */
function childLock<T>(path: string, map: ReadonlyMap<string, T>): T | undefined {
  for (const [k, v] of map) if (k.startsWith(`${path}.`)) return v;
  return undefined;
}
