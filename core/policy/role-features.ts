/**
 * What this machine's role may do (issue 15): `features.<role>` switches,
 * enforced by the CLI, the app and `cordon ui` alike.
 *
 * Only managed policy counts, for the role and for the switches: a user who
 * could write `role` or `features` in their own settings could grant
 * themselves what IT withheld. The highest managed source that sets `role`
 * names it; the switches of that role merge across managed sources, mandatory
 * over recommended. A switch nobody set allows, so a machine without managed
 * policy keeps every feature.
 */
import type { Features } from '../api/cordon-api.js';
import type { PolicySource } from './policy-loader.js';

export const DEFAULT_ROLE = 'default';

export interface RoleFeatures {
  readonly role: string;
  readonly features: Features;
  /** Which managed file set the role, or null when it is the default. */
  readonly roleSource: string | null;
}

const RANK = { user: 0, recommended: 1, managed: 2 } as const;

export function roleFeatures(sources: readonly PolicySource[]): RoleFeatures {
  const managed = sources.filter((s) => s.kind !== 'user').sort((a, b) => RANK[a.kind] - RANK[b.kind]);
  let role = DEFAULT_ROLE;
  let roleSource: string | null = null;
  for (const s of managed) {
    if (s.document.role !== undefined) {
      role = s.document.role;
      roleSource = s.file;
    }
  }
  const features: { launch: boolean; exec: boolean; changeSettings: boolean } = { launch: true, exec: true, changeSettings: true };
  for (const s of managed) {
    const sw = s.document.features?.[role];
    if (sw === undefined) continue;
    if (sw.launch !== undefined) features.launch = sw.launch;
    if (sw.exec !== undefined) features.exec = sw.exec;
    if (sw.changeSettings !== undefined) features.changeSettings = sw.changeSettings;
  }
  return { role, features, roleSource };
}
