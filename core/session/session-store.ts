import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { mountsBelow } from '../grants/grant-mounts.js';

/**
 * Each live session has a private folder `$CORDON_HOME/sessions/<id>/` (mode 0700)
 * holding `session.json`: enough for a later Cordon process to clean up after a
 * launcher that was killed (which container, which placeholders it made).
 * Later issues put the session's proxy socket here too.
 */
export const SessionRecordSchema = z.strictObject({
  id: z.string().regex(/^[0-9a-f]{12}$/),
  kind: z.enum(['exec', 'launch', 'demo', 'chat']),
  profile: z.string(),
  runtime: z.enum(['runc', 'runsc', 'microvm']),
  owner: z.strictObject({ pid: z.number().int(), start: z.string() }),
  createdAt: z.string(),
  containerId: z.string().nullable(),
  workspaces: z.array(z.strictObject({ path: z.string(), mode: z.enum(['ro', 'rw']) })),
  placeholders: z.array(z.strictObject({ path: z.string(), type: z.enum(['file', 'dir']) })),
});
export type SessionRecord = z.infer<typeof SessionRecordSchema>;

export class SessionStore {
  constructor(private readonly dir: string) {}

  sessionDir(id: string): string {
    return join(this.dir, id);
  }

  create(rec: SessionRecord): string {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const dir = this.sessionDir(rec.id);
    mkdirSync(dir, { mode: 0o700 });
    this.write(rec);
    return dir;
  }

  /** Atomic replace, so a crash never leaves half a record. */
  write(rec: SessionRecord): void {
    const file = join(this.sessionDir(rec.id), 'session.json');
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, JSON.stringify(rec, null, 2) + '\n', { mode: 0o600 });
    renameSync(tmp, file);
  }

  read(id: string): SessionRecord | null {
    try {
      const parsed = SessionRecordSchema.safeParse(JSON.parse(readFileSync(join(this.sessionDir(id), 'session.json'), 'utf8')));
      return parsed.success ? parsed.data : null;
    } catch {
      return null;
    }
  }

  /** Ids of every session folder (including ones whose record is unreadable). */
  ids(): string[] {
    try {
      return readdirSync(this.dir).filter((n) => /^[0-9a-f]{12}$/.test(n));
    } catch {
      return [];
    }
  }

  /**
   * Removes the session's folder, unless something is still mounted below it
   * (a granted folder of the user's that could not be unmounted): deleting
   * recursively would then delete the user's own files. Returns whether it
   * was removed.
   */
  delete(id: string): boolean {
    const dir = this.sessionDir(id);
    if (mountsBelow(dir).length > 0) return false;
    rmSync(dir, { recursive: true, force: true });
    return true;
  }
}
