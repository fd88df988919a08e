import assert from 'node:assert/strict';
import { test } from 'node:test';
import { policyLeaves, setAtPath } from './policy-leaves.js';

const schema = {
  type: 'object',
  properties: {
    $schema: { type: 'string' },
    a: {
      type: 'object',
      description: 'section',
      properties: {
        mode: { type: 'string', enum: ['x', 'y'], default: 'x', description: 'the mode' },
        name: { type: 'string' },
        n: { type: 'integer', exclusiveMinimum: 0, maximum: 10 },
        ratio: { type: 'number', minimum: 0, maximum: 1 },
        on: { type: 'boolean' },
        list: { type: 'array', items: { type: 'string' } },
        objects: { type: 'array', items: { type: 'object' } },
        map: { type: 'object', additionalProperties: { type: 'string' } },
        pair: { type: 'object', properties: { l: { type: 'string' }, r: { type: 'string' } }, required: ['l', 'r'] },
      },
    },
  },
};

test('leaves: scalars, enums and string lists with bounds; maps and object lists are JSON-only', () => {
  const { leaves, jsonOnly } = policyLeaves(schema);
  const byKey = new Map(leaves.map((l) => [l.key, l]));
  assert.deepEqual([...byKey.keys()], ['a.mode', 'a.name', 'a.n', 'a.ratio', 'a.on', 'a.list', 'a.pair.l', 'a.pair.r']);
  assert.deepEqual(byKey.get('a.mode')?.enumValues, ['x', 'y']);
  assert.equal(byKey.get('a.mode')?.default, 'x');
  assert.equal(byKey.get('a.mode')?.description, 'the mode');
  assert.equal(byKey.get('a.n')?.minimum, 1, 'exclusiveMinimum 0 of an integer is 1');
  assert.equal(byKey.get('a.n')?.maximum, 10);
  assert.equal(byKey.get('a.ratio')?.kind, 'number');
  assert.equal(byKey.get('a.list')?.kind, 'stringList');
  assert.deepEqual(byKey.get('a.pair.l')?.requiredWith, ['a.pair.r']);
  assert.equal('default' in (byKey.get('a.name') ?? {}), false);
  assert.deepEqual(jsonOnly.map((j) => j.key), ['a.objects', 'a.map']);
});

test('setAtPath creates sections but never replaces a non-object on the way', () => {
  const doc: Record<string, unknown> = { a: { keep: 1 }, b: 5 };
  assert.equal(setAtPath(doc, ['a', 'c', 'd'], true), true);
  assert.deepEqual(doc, { a: { keep: 1, c: { d: true } }, b: 5 });
  assert.equal(setAtPath(doc, ['b', 'x'], 1), false);
  assert.equal(setAtPath(doc, ['a', 'keep', 'x'], 1), false);
  assert.deepEqual(doc['b'], 5);
});
