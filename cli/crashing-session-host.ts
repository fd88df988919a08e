/**
 * Test support, not a test: a long-running host of sessions, as the tray app
 * and `cordon ui` are, built on the same core entry point (`runSession`). It
 * starts every session given as JSON in argv[2] (an array of
 * `{ "profile", "workspace", "command" }`), prints `started <index> <session>`
 * as each one runs, and crashes (`process.abort()`: no handler, no teardown)
 * when it reads the line `crash` on stdin. Run from dist/ with the test's
 * CORDON_HOME, HOME and CORDON_POLICY_DIR in the environment.
 */
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { FileAuditLog } from '../core/audit/audit-log.js';
import { systemClock } from '../core/keys/clock.js';
import { MemoryKeyStore } from '../core/keys/key-store.js';
import { resolveCordonPaths } from '../core/paths/cordon-paths.js';
import { loadPolicy } from '../core/policy/policy-loader.js';
import { DockerEngine } from '../core/sandbox/docker-engine.js';
import { runSession } from '../core/session/session-runner.js';

interface HostedSession {
  readonly profile: string;
  readonly workspace: string;
  readonly command: string[];
}

const sessions = JSON.parse(process.argv[2] ?? '[]') as HostedSession[];
const paths = resolveCordonPaths(process.env, process.platform);
const loaded = loadPolicy(paths);
if (!loaded.ok) throw new Error('policy is invalid');
const engine = new DockerEngine();
const audit = new FileAuditLog({ dir: paths.auditDir, productVersion: 'test-host' });
const keys = new MemoryKeyStore(systemClock);
const discard = new Writable({ write: (_c, _e, cb) => cb() });

sessions.forEach((s, index) => {
  void runSession(
    { kind: 'exec', profile: s.profile, workspaces: [{ path: s.workspace, mode: 'rw' }], env: {}, command: s.command, tty: false },
    {
      engine,
      audit,
      paths,
      policy: loaded.policy,
      keyStore: () => keys,
      hostUser: { uid: process.getuid?.() ?? 1000, gid: process.getgid?.() ?? 1000, sudo: null },
      io: { stdin: null, stdout: discard, stderr: process.stderr },
      onStarted: (started) => process.stdout.write(`started ${index} ${started.id}\n`),
    },
  ).then((r) => process.stdout.write(`ended ${index} ${r.ok ? r.exitCode : r.failure.message}\n`));
});

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === 'crash') process.abort();
});
