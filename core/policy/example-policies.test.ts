import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PolicySchema, describeZodIssues, type PolicyDocument } from './policy-schema.js';

// The example policies of docs/policy-rollout.md, one per rollout phase.
const repoRoot = process.env['CORDON_REPO_ROOT'] ?? fileURLToPath(new URL('../../../', import.meta.url));
const PHASES = ['pilot', 'controlled-expansion', 'enterprise'] as const;
const text = (rel: string): string => readFileSync(join(repoRoot, rel), 'utf8');

function load(phase: (typeof PHASES)[number]): PolicyDocument {
  const file = `docs/policies/${phase}.json`;
  const r = PolicySchema.safeParse(JSON.parse(text(file)));
  assert.ok(r.success, r.success ? '' : JSON.stringify(describeZodIssues(file, r.error)));
  return r.data;
}

for (const phase of PHASES) {
  test(`docs/policies/${phase}.json is a valid policy`, () => {
    load(phase);
  });
}

test('the guide shows each example exactly as committed', () => {
  const guide = text('docs/policy-rollout.md');
  for (const phase of PHASES) assert.ok(guide.includes(text(`docs/policies/${phase}.json`).trim()), `${phase}.json differs from the guide`);
});

test('each phase is at least as strict as the one before', () => {
  const [pilot, expansion, enterprise] = PHASES.map(load);
  const ttl = (d: PolicyDocument | undefined): number => d?.keys?.phantomTtlMinutes ?? 60;
  assert.ok(ttl(pilot) >= ttl(expansion) && ttl(expansion) >= ttl(enterprise));
  for (const d of [pilot, expansion, enterprise]) assert.equal(d?.egress?.mode, 'enforce');
  const denies = (d: PolicyDocument | undefined): Set<string> => new Set(d?.workspaces?.deny ?? []);
  for (const p of denies(pilot)) assert.ok(denies(expansion).has(p), `expansion keeps ${p} denied`);
  for (const p of denies(expansion)) assert.ok(denies(enterprise).has(p), `enterprise keeps ${p} denied`);
  assert.deepEqual(enterprise?.sandbox?.allowedProfiles, ['strict']);
  assert.equal(enterprise?.dlp?.categories.secret, 'block');
});
