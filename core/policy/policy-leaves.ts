/**
 * The policy as a flat list of settable leaves, read from the JSON Schema that
 * zod generates from PolicySchema. MDM formats (ADMX registry values, Windows
 * `.reg` dotted value names) address one scalar or string list at a time;
 * this list is what both the template generator and the registry parser agree
 * on, so neither keeps its own copy of the policy's shape.
 */

/** How a leaf is typed in MDM formats. */
export type LeafKind = 'string' | 'enum' | 'integer' | 'number' | 'boolean' | 'stringList';

/** One setting that MDM can address on its own, e.g. `egress.mode`. */
export interface PolicyLeaf {
  /** Dotted path, also the registry value name: `egress.mode`. */
  readonly key: string;
  readonly path: readonly string[];
  readonly kind: LeafKind;
  /** Allowed values of an `enum` leaf; empty otherwise. */
  readonly enumValues: readonly string[];
  readonly description: string;
  /** The schema default, when the schema has one. */
  readonly default?: unknown;
  /** Inclusive bounds of a numeric leaf, from minimum/maximum/exclusive*. */
  readonly minimum?: number;
  readonly maximum?: number;
  /**
   * Other leaves of the same object that the schema requires whenever the
   * object is present: setting one of them alone would make the policy invalid.
   */
  readonly requiredWith: readonly string[];
}

/** A key whose value is a map or a list of objects: settable only as part of the whole JSON document. */
export interface JsonOnlyKey {
  readonly key: string;
  readonly description: string;
}

/** Every leaf of the policy, in schema order, and the keys only `PolicyJSON` can carry. */
export interface PolicyLeaves {
  readonly leaves: readonly PolicyLeaf[];
  readonly jsonOnly: readonly JsonOnlyKey[];
}

type Json = Record<string, unknown>;

function asObject(v: unknown): Json | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

/**
 * Walks a draft-2020-12 JSON Schema of the policy (as `policyJsonSchema()`
 * returns it) and lists its leaves. Objects with fixed `properties` are
 * descended into; `$schema` at the root is skipped (an editor hint, not
 * policy). Maps (`additionalProperties` schemas), lists of objects and unions
 * are not leaves: they go to `jsonOnly`.
 */
export function policyLeaves(jsonSchema: unknown): PolicyLeaves {
  const leaves: PolicyLeaf[] = [];
  const jsonOnly: JsonOnlyKey[] = [];
  const walk = (node: Json, path: string[], requiredWith: readonly string[]): void => {
    const key = path.join('.');
    const description = str(node['description']) ?? '';
    const type = str(node['type']);
    const props = asObject(node['properties']);
    if (type === 'object' && props !== undefined) {
      const required = Array.isArray(node['required']) ? node['required'].filter((r): r is string => typeof r === 'string') : [];
      for (const [name, child] of Object.entries(props)) {
        if (path.length === 0 && name === '$schema') continue;
        const childNode = asObject(child);
        if (childNode === undefined) continue;
        const siblings = required.filter((r) => r !== name).map((r) => [...path, r].join('.'));
        walk(childNode, [...path, name], required.includes(name) ? siblings : []);
      }
      return;
    }
    const base = { key, path, description, requiredWith, ...('default' in node ? { default: node['default'] } : {}) };
    const enumValues = Array.isArray(node['enum']) ? node['enum'].filter((e): e is string => typeof e === 'string') : [];
    if (type === 'string' && enumValues.length > 0) {
      leaves.push({ ...base, kind: 'enum', enumValues });
    } else if (type === 'string') {
      leaves.push({ ...base, kind: 'string', enumValues: [] });
    } else if (type === 'boolean') {
      leaves.push({ ...base, kind: 'boolean', enumValues: [] });
    } else if (type === 'integer' || type === 'number') {
      const exMin = num(node['exclusiveMinimum']);
      const exMax = num(node['exclusiveMaximum']);
      const step = type === 'integer' ? 1 : 0;
      const minimum = num(node['minimum']) ?? (exMin !== undefined ? exMin + step : undefined);
      const maximum = num(node['maximum']) ?? (exMax !== undefined ? exMax - step : undefined);
      leaves.push({
        ...base,
        kind: type,
        enumValues: [],
        ...(minimum !== undefined ? { minimum } : {}),
        ...(maximum !== undefined ? { maximum } : {}),
      });
    } else if (type === 'array' && str(asObject(node['items'])?.['type']) === 'string') {
      leaves.push({ ...base, kind: 'stringList', enumValues: [] });
    } else if (path.length > 0) {
      jsonOnly.push({ key, description });
    }
  };
  const root = asObject(jsonSchema);
  if (root !== undefined) walk(root, [], []);
  return { leaves, jsonOnly };
}

/**
 * Sets `value` at `path` inside `doc`, creating objects on the way. Refuses
 * (returns false) when a step already holds something that is not an object,
 * so a leaf can never silently replace a whole section.
 */
export function setAtPath(doc: Record<string, unknown>, path: readonly string[], value: unknown): boolean {
  let cur: Record<string, unknown> = doc;
  for (const [i, seg] of path.entries()) {
    if (i === path.length - 1) {
      cur[seg] = value;
      return true;
    }
    const next = cur[seg];
    if (next === undefined) {
      const created: Record<string, unknown> = {};
      cur[seg] = created;
      cur = created;
    } else if (typeof next === 'object' && next !== null && !Array.isArray(next)) {
      cur = next as Record<string, unknown>;
    } else {
      return false;
    }
  }
  return false;
}
