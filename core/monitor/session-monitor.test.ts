/**
 * The workspace watcher against a real folder (chokidar on the real file
 * system) at the end of a session: a git config turned risky just before the
 * session ends, before the watcher has reported the write, must still be
 * judged and neutralised. (A CI run found the same gap during a session: a
 * config written right after it was created, before the watcher had set up
 * its watch on the new file, went unjudged.)
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MemoryAuditSink } from '../audit/audit-event.js';
import { DEFAULT_MONITORING } from '../policy/policy-schema.js';
import { SessionMonitor } from './session-monitor.js';

const base = realpathSync(mkdtempSync(join(tmpdir(), 'cordon-monitor-')));
after(() => rmSync(base, { recursive: true, force: true }));

test('a git config seen harmless and made risky just before the session ends is found at close, and neutralised', async () => {
  const ws = join(base, 'ws');
  mkdirSync(join(ws, '.git'), { recursive: true });
  const audit = new MemoryAuditSink();
  const monitor = new SessionMonitor({ sessionId: 'mon', audit, policy: DEFAULT_MONITORING, evidenceDir: join(base, 'evidence'), notify: () => undefined });
  await monitor.watch([ws]);
  const config = join(ws, '.git', 'config');
  writeFileSync(config, '[core]\n\tbare = false\n');
  // Past the watcher's report of the new file and the second look at it.
  await new Promise((r) => setTimeout(r, 900));
  const findings = (): string[] => audit.events.filter((e) => e.kind === 'monitor.sensitive_file').map((e) => String(e.details?.['path']));
  assert.deepEqual(findings(), [], 'a harmless config is not a finding');
  writeFileSync(config, '[core]\n\tfsmonitor = ./x.sh\n');
  const dest = await monitor.close();
  assert.deepEqual(findings(), ['.git/config']);
  assert.ok(dest !== null && existsSync(join(dest, '0', '.git', 'config')), 'the risky config was moved to the evidence folder');
  assert.ok(!existsSync(config), 'the risky config left the workspace');
});
