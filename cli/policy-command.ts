import { policyJsonSchema } from '../core/policy/policy-json-schema.js';
import { loadPolicy, validatePolicyFile } from '../core/policy/policy-loader.js';
import { profileJsonSchema } from '../core/profiles/profile-json-schema.js';
import { CliExit, type CliContext } from './cli-context.js';
import { EXIT } from './exit-codes.js';

export function policyShow(ctx: CliContext, opts: { json?: boolean }): number {
  const res = loadPolicy(ctx.paths);
  if (!res.ok) throw new CliExit(EXIT.policyInvalid, `policy is invalid:\n${res.issues.map((i) => `  ${i.source}: ${i.path}: ${i.message}`).join('\n')}`);
  const sources = res.sources.map((s) => ({ kind: s.kind, file: s.file }));
  if (opts.json) {
    process.stdout.write(JSON.stringify({ policy: res.policy, sources }, null, 2) + '\n');
  } else {
    process.stdout.write(`sources (lowest precedence first): built-in defaults${sources.map((s) => `, ${s.kind} ${s.file}`).join('')}\n`);
    process.stdout.write(JSON.stringify(res.policy, null, 2) + '\n');
  }
  return EXIT.ok;
}

export function policyValidate(file: string): number {
  const issues = validatePolicyFile(file);
  if (issues.length === 0) {
    process.stdout.write(`${file}: valid\n`);
    return EXIT.ok;
  }
  for (const i of issues) process.stdout.write(`${i.source}: ${i.path}: ${i.message}\n`);
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
