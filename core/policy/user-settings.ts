/**
 * A change to the user's own settings file (`cordon policy set`, and the app
 * later): refused for a field managed policy sets, and written only if the
 * result still validates. Managed policy beats user settings, so a locked
 * field is a refusal that names the file managing it, never a silent no-op.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Allow, Deny } from '../decision.js';
import { parsePolicyText, type PolicyOrigins } from './policy-loader.js';
import type { PreApproval } from './policy-schema.js';

export type SettingChange = Allow<{ readonly path: string; readonly value: unknown; readonly file: string }> | Deny<'locked' | 'invalid'>;

/**
 * Sets PATH (dotted, e.g. `egress.mode`) to RAWVALUE (JSON, or a bare word as
 * a string) in FILE, unless PROVENANCE shows managed policy locks it, the path
 * itself, a parent, or (for a whole object) any field inside it.
 */
export function changeUserSetting(file: string, provenance: PolicyOrigins, path: string, rawValue: string): SettingChange {
  const locked = lockMessage(provenance, path);
  if (locked !== null) return { kind: 'deny', reason: 'locked', message: locked };
  let value: unknown;
  try {
    value = JSON.parse(rawValue);
  } catch {
    value = rawValue; // a bare word is a string
  }
  let doc: Record<string, unknown> = {};
  try {
    doc = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    // No settings yet.
  }
  setPath(doc, path.split('.'), value);
  const text = JSON.stringify(doc, null, 2) + '\n';
  const check = parsePolicyText(file, text);
  if (!check.ok) return { kind: 'deny', reason: 'invalid', message: `not changed: ${check.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}` };
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(`${file}.tmp`, text, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
  return { kind: 'allow', path, value, file };
}

/**
 * Adds ITEM to the list at PATH in the user's FILE (`egress.allow` for an
 * approval answered "always"), keeping what is there; the same refusals as
 * {@link changeUserSetting}. Already listed: allowed, nothing written.
 */
export function addToUserList(file: string, provenance: PolicyOrigins, path: string, item: string): SettingChange {
  const list = userList(file, path).filter((x): x is string => typeof x === 'string');
  if (list.includes(item)) return { kind: 'allow', path, value: list, file };
  return changeUserSetting(file, provenance, path, JSON.stringify([...list, item]));
}

/**
 * Appends ENTRY to `approvals.preApproved` in the user's FILE: a file request
 * answered "always" (issue 17), e.g. `{ kind: 'file', target, write,
 * workspaces: [the session's workspaces] }`. Refused with {@link lockMessage}'s
 * words when managed policy sets `approvals.preApproved` (or the whole
 * `approvals` section), and when the result would not validate (a relative
 * path, "/" …). An identical entry already there: allowed, nothing written.
 */
export function addUserPreApproval(file: string, provenance: PolicyOrigins, entry: PreApproval): SettingChange {
  const path = 'approvals.preApproved';
  const list = userList(file, path);
  const same = (x: unknown): boolean => JSON.stringify(canonicalEntry(x)) === JSON.stringify(canonicalEntry(entry));
  if (list.some(same)) return { kind: 'allow', path, value: list, file };
  return changeUserSetting(file, provenance, path, JSON.stringify([...list, entry]));
}

/** An entry with its keys in one order, so two spellings of one pre-approval compare equal. */
function canonicalEntry(x: unknown): unknown {
  if (typeof x !== 'object' || x === null) return x;
  const e = x as Record<string, unknown>;
  return [e['kind'], e['target'], e['write'] === true, e['workspaces'] ?? null];
}

/** The list at PATH in the user's FILE as written; empty when there is none (or the file is unreadable). */
function userList(file: string, path: string): unknown[] {
  let doc: Record<string, unknown> = {};
  try {
    doc = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    // No settings yet.
  }
  let cur: unknown = doc;
  for (const k of path.split('.')) cur = typeof cur === 'object' && cur !== null && !Array.isArray(cur) ? (cur as Record<string, unknown>)[k] : undefined;
  return Array.isArray(cur) ? cur : [];
}

/** Why the user may not change PATH (managed policy locks it, a parent or a field inside it), or null. */
export function lockMessage(provenance: PolicyOrigins, path: string): string | null {
  const lock = provenance.locked.get(path) ?? originOfParent(path, provenance.locked) ?? childLock(path, provenance.locked);
  return lock ? `${path} is locked by ${lock.kind === 'managed' ? 'mandatory' : 'recommended'} managed policy (${lock.file}); ask your IT administrator to change it` : null;
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
export function originOfParent<T>(path: string, map: ReadonlyMap<string, T>): T | undefined {
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
