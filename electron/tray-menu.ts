/**
 * The tray menu as data: what it lists for the sessions running on this
 * machine, the folders launched on lately and what this role may do. main.ts
 * turns the model into an Electron Menu and each action into a call on the
 * session service; this file decides what appears.
 */
import type { Features, SessionSummary, Workspace } from '../core/api/cordon-api.js';

export type TrayAction =
  | { readonly kind: 'launch-pick' }
  | { readonly kind: 'launch-recent'; readonly workspace: Workspace }
  | { readonly kind: 'open-session'; readonly sessionId: string }
  | { readonly kind: 'stop-session'; readonly sessionId: string }
  | { readonly kind: 'open-app' }
  | { readonly kind: 'quit' };

export type TrayItem =
  | { readonly type: 'action'; readonly label: string; readonly action: TrayAction }
  | { readonly type: 'label'; readonly label: string }
  | { readonly type: 'submenu'; readonly label: string; readonly items: readonly TrayItem[] }
  | { readonly type: 'separator' };

export interface TrayMenuInput {
  /** Running sessions, or a message saying why they could not be listed (engine down). */
  readonly sessions: readonly SessionSummary[] | { readonly unavailable: string };
  readonly recent: readonly Workspace[];
  readonly features: Features;
}

/** More sessions than this are left to the window: a tray menu is not a table. */
export const TRAY_SESSION_LIMIT = 8;
export const TRAY_RECENT_LIMIT = 5;

/**
 * The menu, top to bottom: launch entries (only for a role that may launch),
 * running sessions each with Open and Stop, Open Cordon, Quit.
 */
export function trayMenuModel(input: TrayMenuInput): TrayItem[] {
  const items: TrayItem[] = [];
  if (input.features.launch) {
    items.push({ type: 'action', label: 'Launch on a folder…', action: { kind: 'launch-pick' } });
    const recent = input.recent.slice(0, TRAY_RECENT_LIMIT);
    if (recent.length > 0) {
      items.push({
        type: 'submenu',
        label: 'Launch on a recent folder',
        items: recent.map((w) => ({ type: 'action', label: `${folderName(w.path)}${w.mode === 'ro' ? ' (read-only)' : ''} — ${w.path}`, action: { kind: 'launch-recent', workspace: w } })),
      });
    }
    items.push({ type: 'separator' });
  }
  if ('unavailable' in input.sessions) {
    items.push({ type: 'label', label: `Sessions unavailable: ${oneLine(input.sessions.unavailable)}` });
  } else if (input.sessions.length === 0) {
    items.push({ type: 'label', label: 'No sessions running' });
  } else {
    for (const s of input.sessions.slice(0, TRAY_SESSION_LIMIT)) {
      items.push({
        type: 'submenu',
        label: sessionLabel(s),
        items: [
          { type: 'action', label: 'Open', action: { kind: 'open-session', sessionId: s.id } },
          { type: 'action', label: 'Stop', action: { kind: 'stop-session', sessionId: s.id } },
        ],
      });
    }
    const hidden = input.sessions.length - TRAY_SESSION_LIMIT;
    if (hidden > 0) items.push({ type: 'action', label: `${hidden} more in Cordon…`, action: { kind: 'open-app' } });
  }
  items.push({ type: 'separator' });
  items.push({ type: 'action', label: 'Open Cordon', action: { kind: 'open-app' } });
  items.push({ type: 'action', label: 'Quit Cordon', action: { kind: 'quit' } });
  return items;
}

/** "claude · my-project (3f9a1c)": profile, first folder and the short id a person can match with `cordon ps`. */
export function sessionLabel(s: SessionSummary): string {
  const first = s.workspaces[0];
  const where = first ? ` · ${folderName(first.path)}${s.workspaces.length > 1 ? ` +${s.workspaces.length - 1}` : ''}` : '';
  return `${s.profile || s.kind || 'session'}${where} (${s.id.slice(0, 6)})`;
}

/** The last path segment, for POSIX and Windows paths alike. */
export function folderName(path: string): string {
  const parts = path.split(/[\\/]+/).filter((p) => p !== '');
  return parts[parts.length - 1] ?? path;
}

/** Engine messages can be long and multi-line; a menu label is one short line. */
function oneLine(text: string): string {
  const line = text.split('\n')[0] ?? '';
  return line.length > 80 ? `${line.slice(0, 79)}…` : line;
}
