import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PolicySource } from './policy-loader.js';
import type { PolicyDocument } from './policy-schema.js';
import { roleFeatures } from './role-features.js';

const src = (kind: PolicySource['kind'], document: PolicyDocument): PolicySource => ({ kind, file: `/${kind}.json`, document, raw: document });

test('without managed policy every feature is allowed, role "default"', () => {
  const r = roleFeatures([]);
  assert.deepEqual(r, { role: 'default', features: { launch: true, exec: true, changeSettings: true }, roleSource: null });
});

test('managed policy names the role and its switches; an unset switch allows', () => {
  const r = roleFeatures([src('managed', { role: 'viewer', features: { viewer: { launch: false } } })]);
  assert.equal(r.role, 'viewer');
  assert.equal(r.roleSource, '/managed.json');
  assert.deepEqual(r.features, { launch: false, exec: true, changeSettings: true });
});

test('a user cannot pick a role or grant a switch in their own settings', () => {
  const r = roleFeatures([
    src('managed', { role: 'viewer', features: { viewer: { launch: false, exec: false } } }),
    src('user', { role: 'admin', features: { viewer: { launch: true }, admin: { launch: true } } }),
  ]);
  assert.equal(r.role, 'viewer');
  assert.deepEqual(r.features, { launch: false, exec: false, changeSettings: true });
});

test('mandatory beats recommended for the role and for each switch', () => {
  const r = roleFeatures([
    src('managed', { role: 'dev', features: { dev: { exec: false } } }),
    src('recommended', { role: 'viewer', features: { dev: { exec: true, launch: false } } }),
  ]);
  assert.equal(r.role, 'dev');
  assert.deepEqual(r.features, { launch: false, exec: false, changeSettings: true });
});
