/** The tray lists what runs and what a role may do, and nothing a role may not do. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SessionSummary } from '../core/api/cordon-api.js';
import { folderName, TRAY_SESSION_LIMIT, trayMenuModel, type TrayItem } from './tray-menu.js';

const all = { launch: true, exec: true, changeSettings: true };
const session = (id: string, path = '/home/a/project'): SessionSummary => ({
  id,
  kind: 'launch',
  profile: 'claude',
  runtime: 'runc',
  state: 'running',
  ownerPid: 1,
  createdAt: '2026-12-04T15:00:00.000Z',
  workspaces: [{ path, mode: 'rw' }],
  containerId: 'c',
  attachable: true,
  counts: { allowed: 0, denied: 0, dlpFindings: 0 },
});
const labels = (items: readonly TrayItem[]): string[] => items.map((i) => (i.type === 'separator' ? '---' : i.label));
const actions = (items: readonly TrayItem[]): string[] => items.flatMap((i) => (i.type === 'action' ? [i.action.kind] : i.type === 'submenu' ? actions(i.items) : []));

test('launch entries, then each session with Open and Stop, then Open Cordon and Quit', () => {
  const m = trayMenuModel({ sessions: [session('aaaaaa111111'), session('bbbbbb222222', 'C:\\Users\\a\\notes')], recent: [{ path: '/home/a/project', mode: 'rw' }, { path: '/srv/docs', mode: 'ro' }], features: all });
  assert.deepEqual(labels(m), ['Launch on a folder…', 'Launch on a recent folder', '---', 'claude · project (aaaaaa)', 'claude · notes (bbbbbb)', '---', 'Open Cordon', 'Quit Cordon']);
  const s = m[3];
  assert.ok(s && s.type === 'submenu');
  assert.deepEqual(s.items, [
    { type: 'action', label: 'Open', action: { kind: 'open-session', sessionId: 'aaaaaa111111' } },
    { type: 'action', label: 'Stop', action: { kind: 'stop-session', sessionId: 'aaaaaa111111' } },
  ]);
  const recent = m[1];
  assert.ok(recent && recent.type === 'submenu');
  assert.deepEqual(labels(recent.items), ['project — /home/a/project', 'docs (read-only) — /srv/docs']);
});

test('a role without launch gets no launch entry at all', () => {
  const m = trayMenuModel({ sessions: [session('aaaaaa111111')], recent: [{ path: '/w', mode: 'rw' }], features: { ...all, launch: false } });
  assert.deepEqual(
    actions(m).filter((a) => a.startsWith('launch')),
    [],
  );
  assert.deepEqual(actions(m), ['open-session', 'stop-session', 'open-app', 'quit']);
});

test('no sessions, an engine that is down, and more sessions than fit', () => {
  assert.ok(labels(trayMenuModel({ sessions: [], recent: [], features: all })).includes('No sessions running'));
  const down = labels(trayMenuModel({ sessions: { unavailable: 'Docker Engine is not reachable\nat /var/run/docker.sock' }, recent: [], features: all }));
  assert.ok(down.includes('Sessions unavailable: Docker Engine is not reachable'), down.join('|'));
  const many = trayMenuModel({ sessions: Array.from({ length: TRAY_SESSION_LIMIT + 3 }, (_, i) => session(`${i}`.padStart(12, 'a'))), recent: [], features: all });
  assert.equal(many.filter((i) => i.type === 'submenu').length, TRAY_SESSION_LIMIT + 0);
  assert.ok(labels(many).includes('3 more in Cordon…'));
});

test('folderName handles POSIX, Windows and trailing separators', () => {
  assert.equal(folderName('/home/a/project/'), 'project');
  assert.equal(folderName('C:\\Users\\a\\notes'), 'notes');
  assert.equal(folderName('/'), '/');
});
