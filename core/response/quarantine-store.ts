/**
 * What is kept of each quarantined session (issue 20), one JSON file per
 * session in `$CORDON_HOME/quarantine/` (0700): the bundle, the kept
 * container and image, until `cordon quarantine release|purge`.
 */
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

export const QuarantineRecordSchema = z.strictObject({
  session: z.string().regex(/^[0-9a-f]{12}$/),
  at: z.string(),
  reason: z.string(),
  by: z.string(),
  bundle: z.string(),
  manifestSha256: z.string(),
  keyFingerprint: z.string().nullable(),
  kept: z.strictObject({ containerId: z.string(), image: z.string() }).nullable(),
  /** Neutralised sensitive files (the watcher's), moved out of the workspace. */
  neutralisedDir: z.string().nullable(),
  /** Set by `cordon quarantine release`: the kept container and image are gone, the bundle stays. */
  releasedAt: z.string().nullable(),
});
export type QuarantineRecord = z.infer<typeof QuarantineRecordSchema>;

export class QuarantineStore {
  constructor(private readonly dir: string) {}

  write(rec: QuarantineRecord): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const file = join(this.dir, `${rec.session}.json`);
    writeFileSync(`${file}.tmp`, JSON.stringify(rec, null, 2) + '\n', { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  }

  read(session: string): QuarantineRecord | null {
    try {
      const parsed = QuarantineRecordSchema.safeParse(JSON.parse(readFileSync(join(this.dir, `${session}.json`), 'utf8')));
      return parsed.success ? parsed.data : null;
    } catch {
      return null;
    }
  }

  /** Sessions whose id starts with PREFIX. */
  find(prefix: string): string[] {
    try {
      return readdirSync(this.dir)
        .filter((n) => /^[0-9a-f]{12}\.json$/.test(n))
        .map((n) => n.slice(0, 12))
        .filter((id) => prefix !== '' && id.startsWith(prefix));
    } catch {
      return [];
    }
  }

  delete(session: string): void {
    rmSync(join(this.dir, `${session}.json`), { force: true });
  }
}
