import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { installRoot } from '../paths/install-root.js';
import { describeZodIssues, type PolicyIssue } from '../policy/policy-schema.js';
import { ProfileSchema, type SandboxProfile } from './profile-schema.js';

/** The folder that holds the built-in profiles (repo's `sandbox-profiles/`). */
export const BUILTIN_PROFILE_DIR = join(installRoot(), 'sandbox-profiles');

/** A validated profile and the folder its relative files (seccomp) resolve against. */
export interface LoadedProfile {
  readonly profile: SandboxProfile;
  readonly file: string;
  readonly baseDir: string;
}

export type ProfileResult = { readonly ok: true; readonly value: LoadedProfile } | { readonly ok: false; readonly issues: readonly PolicyIssue[] };

/**
 * Finds profile NAME: a user profile in `userDir` wins over a built-in one of the
 * same name (IT restricts choice through policy `sandbox.allowedProfiles`).
 */
export function loadProfile(name: string, userDir: string, builtinDir: string = BUILTIN_PROFILE_DIR): ProfileResult {
  for (const dir of [userDir, builtinDir]) {
    const file = join(dir, `${name}.json`);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    return parseProfile(file, text);
  }
  const known = listProfiles(userDir, builtinDir);
  return {
    ok: false,
    issues: [{ source: name, path: '(root)', message: `no profile named "${name}" (known: ${known.join(', ') || 'none'})` }],
  };
}

/** Parses and validates profile text; the file name must match the profile's `name`. */
export function parseProfile(file: string, text: string): ProfileResult {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { ok: false, issues: [{ source: file, path: '(root)', message: `not valid JSON: ${(err as Error).message}` }] };
  }
  const parsed = ProfileSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, issues: describeZodIssues(file, parsed.error) };
  return { ok: true, value: { profile: parsed.data, file, baseDir: dirname(file) } };
}

/** Names of every profile available, user ones first. */
export function listProfiles(userDir: string, builtinDir: string = BUILTIN_PROFILE_DIR): string[] {
  const names = new Set<string>();
  for (const dir of [userDir, builtinDir]) {
    try {
      for (const n of readdirSync(dir)) if (n.endsWith('.json') && n !== 'profile.schema.json') names.add(n.slice(0, -5));
    } catch {
      // A missing folder has no profiles.
    }
  }
  return [...names];
}
