/**
 * How `cordon keys status` presents KeyStore status: a table for people and a
 * stable JSON document for scripts. Neither ever holds a key value.
 */
import type { KeyStatus, KeyStoreError } from './key-store.js';

/** One provider's line in the report: its status, or why it could not be read. */
export type KeyStatusEntry = { readonly ok: true; readonly status: KeyStatus } | { readonly ok: false; readonly provider: string; readonly error: KeyStoreError };

/** The `--json` document: `{ "providers": [ { provider, state, lastSetAt?, rotatedAt?, error? } ] }`. */
export interface KeyStatusJson {
  readonly providers: readonly {
    readonly provider: string;
    readonly state: 'present' | 'absent' | 'error';
    readonly lastSetAt?: string | null;
    readonly rotatedAt?: string | null;
    readonly error?: { readonly code: string; readonly message: string };
  }[];
}

/** Builds the JSON document. */
export function keyStatusJson(entries: readonly KeyStatusEntry[]): KeyStatusJson {
  return {
    providers: entries.map((entry) => {
      if (!entry.ok) return { provider: entry.provider, state: 'error' as const, error: { code: entry.error.code, message: entry.error.message } };
      const s = entry.status;
      return s.state === 'present'
        ? { provider: s.provider, state: 'present' as const, lastSetAt: s.lastSetAt, rotatedAt: s.rotatedAt }
        : { provider: s.provider, state: 'absent' as const };
    }),
  };
}

/** Renders the human table, one line per provider, e.g. `anthropic  present  set 2026-01-01T00:00:00Z  rotated never`. */
export function keyStatusText(entries: readonly KeyStatusEntry[]): string {
  const width = Math.max(8, ...entries.map((e) => (e.ok ? e.status.provider : e.provider).length));
  const lines = entries.map((entry) => {
    if (!entry.ok) return `${entry.provider.padEnd(width)}  error    ${entry.error.message}`;
    const s = entry.status;
    if (s.state === 'absent') return `${s.provider.padEnd(width)}  absent`;
    return `${s.provider.padEnd(width)}  present  set ${s.lastSetAt ?? 'unknown'}  rotated ${s.rotatedAt ?? 'never'}`;
  });
  return `${lines.join('\n')}\n`;
}
