/**
 * The folders a user launched on lately, newest first, for the tray menu and
 * the UI's Launch form. Kept in `$CORDON_HOME/recent-workspaces.json`; a
 * missing or unreadable file is an empty list (it is a convenience, not state
 * anything depends on).
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { WorkspaceSchema, type Workspace } from '../api/cordon-api.js';

export const RECENT_LIMIT = 10;
const FileSchema = z.array(WorkspaceSchema);

export class RecentWorkspaces {
  constructor(private readonly file: string) {}

  list(): Workspace[] {
    try {
      const parsed = FileSchema.safeParse(JSON.parse(readFileSync(this.file, 'utf8')));
      return parsed.success ? parsed.data.slice(0, RECENT_LIMIT) : [];
    } catch {
      return [];
    }
  }

  /** Puts WORKSPACES first, dropping older entries for the same folder. */
  add(workspaces: readonly Workspace[]): void {
    const seen = new Set(workspaces.map((w) => w.path));
    const next = [...workspaces, ...this.list().filter((w) => !seen.has(w.path))].slice(0, RECENT_LIMIT);
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    writeFileSync(`${this.file}.tmp`, JSON.stringify(next, null, 2) + '\n', { mode: 0o600 });
    renameSync(`${this.file}.tmp`, this.file);
  }
}
