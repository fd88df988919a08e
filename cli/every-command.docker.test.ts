/**
 * Every `cordon` subcommand through the installed command, `bin/cordon`, with
 * the single-file bundle and its V8 code cache in place (issue 12): `cordon
 * dlp scan` once failed only there, while tests that loaded dist/ passed.
 * The commands are found by walking `--help`, so a new command without a
 * real run here fails this file. Needs Docker Engine (doctor, ps, exec …) and
 * a Secret Service (keys): run it through scripts/run-tests.mjs.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ApprovalStore } from '../core/approvals/approval-store.js';
import { MemoryAuditSink } from '../core/audit/audit-event.js';
import { generateBundleKeyPair } from '../core/policy/signed-bundle.js';
import { REPO_ROOT, TestEnv, collect, eventually, runningSessionOf, type CordonResult } from './test-harness.js';

const t = new TestEnv('every-command');
after(() => t.cleanup());

/** An AWS-style access key id (not AWS's published example, which DLP allows on purpose). */
const SECRET = 'AKIAQ3EGRJ2KZ7XNP4VB';

/** Files an approval request as a session host would (its ask() settles when the CLI answers) and returns its id. */
function filedApproval(target: string): string {
  const host = new ApprovalStore(join(t.cordonHome, 'approvals'), { timeoutSeconds: 30, audit: new MemoryAuditSink() });
  void host.ask({ session: 'every-command', kind: 'network', target });
  const r = host.list().find((x) => x.target === target && x.status === 'pending');
  assert.ok(r, `request for ${target} was not filed`);
  return r.id;
}

function ok(r: CordonResult, what: string): void {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stdout.slice(-600)}\n${r.stderr.slice(-600)}`);
  assert.doesNotMatch(r.stderr, /ERR_VM_|unexpected error/, what);
}

/** The session `drop` starts for `take`; `stop` ends it. */
let transferSession: Promise<CordonResult> | undefined;
let transferId = '';

/** One real run per leaf command, in order (keys set before rotate, audit verify last). */
const REAL_RUNS: Record<string, () => Promise<void>> = {
  doctor: async () => {
    const r = await t.run(['doctor', '--json']);
    ok(r, 'doctor');
    const rep = JSON.parse(r.stdout) as { ok: boolean; checks: Array<{ check: string; status: string }> };
    assert.equal(rep.ok, true);
    assert.ok(rep.checks.some((c) => c.check === 'docker' && c.status === 'ok'));
  },
  exec: async () => {
    const ws = t.workspace('ws-exec');
    writeFileSync(join(ws, 'hello.txt'), 'hello from the host\n');
    const r = await t.run(['exec', '--workspace', `${ws}:ro`, '--', 'cat', join(ws, 'hello.txt')]);
    ok(r, 'exec');
    assert.equal(r.stdout, 'hello from the host\n');
  },
  launch: async () => {
    // No provider: this profile's command needs no key (launch checks for one otherwise).
    const profile = t.profile('smoke-launch', 'standard', { provider: undefined, command: ['sh', '-c', 'echo launched-$((6*7))'] });
    const r = await t.run(['launch', '--profile', profile]);
    ok(r, 'launch');
    assert.match(r.stdout, /launched-42/);
  },
  'ca rotate': async () => {
    const r = await t.run(['ca', 'rotate']);
    ok(r, 'ca rotate');
    assert.match(r.stdout, /^New inspection CA ([0-9A-F]{2}:){31}[0-9A-F]{2} written to /);
  },
  'ca show': async () => {
    const r = await t.run(['ca', 'show']);
    ok(r, 'ca show');
    assert.match(r.stdout, /^sha256: +([0-9A-F]{2}:){31}[0-9A-F]{2}$/m);
    assert.match(r.stdout, /key: +OS keychain/);
  },
  demo: async () => {
    const r = await t.run(['demo']);
    ok(r, 'demo');
    assert.match(r.stdout, /hash chain intact/);
    assert.doesNotMatch(r.stdout, /unexpected!/);
  },
  drop: async () => {
    const ws = t.workspace('ws-transfer');
    transferSession = collect(t.spawn(['exec', '--workspace', ws, '--', 'sh', '-c', 'echo out > made.txt; sleep 60']), undefined, 120_000);
    let id = '';
    await eventually(async () => {
      const rows = JSON.parse((await t.run(['ps', '--json'])).stdout || '[]') as Array<{ session: string; workspaces: Array<{ path: string }> }>;
      id = rows.find((r) => r.workspaces.some((w) => w.path === ws))?.session ?? '';
      return id !== '' && existsSync(join(ws, 'made.txt'));
    }, 60_000, 250);
    transferId = id;
    const file = join(t.root, 'dropped.txt');
    writeFileSync(file, 'hello\n');
    const r = await t.run(['drop', id, file]);
    ok(r, 'drop');
    assert.equal(readFileSync(join(ws, 'cordon-inbox', 'dropped.txt'), 'utf8'), 'hello\n');
  },
  take: async () => {
    const dest = join(t.root, 'taken.txt');
    ok(await t.run(['take', transferId, 'made.txt', dest]), 'take');
    assert.equal(readFileSync(dest, 'utf8'), 'out\n');
  },
  'approvals grant': async () => {
    // A folder pushed into the running transfer session; it appears at its stable path inside.
    const folder = t.workspace('granted');
    const r = await t.run(['approvals', 'grant', transferId, folder]);
    ok(r, 'approvals grant');
    assert.equal(r.stdout, '/run/cordon/grants/granted\n');
  },
  ps: async () => {
    const r = await t.run(['ps', '--json']);
    ok(r, 'ps');
    assert.ok(Array.isArray(JSON.parse(r.stdout)));
  },
  stop: async () => {
    const r = await t.run(['stop', '--all']);
    ok(r, 'stop');
    await transferSession;
  },
  'image build': async () => {
    // A real build runs debootstrap for minutes (scripts/setup.sh does it);
    // here it runs up to its first check against an engine that is not there.
    const r = await t.run(['image', 'build', '--tag', 'cordon/smoke-never-built:1'], { env: { DOCKER_HOST: `unix://${join(t.root, 'no-engine.sock')}` } });
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /Docker Engine is not running/);
  },
  'policy show': async () => {
    const r = await t.run(['policy', 'show', '--json']);
    ok(r, 'policy show');
    assert.ok((JSON.parse(r.stdout) as { values: unknown[] }).values.length > 0);
  },
  'policy validate': async () => {
    const file = join(t.root, 'valid-policy.json');
    writeFileSync(file, JSON.stringify({ egress: { mode: 'enforce' } }));
    ok(await t.run(['policy', 'validate', file]), 'policy validate');
  },
  'policy set': async () => {
    ok(await t.run(['policy', 'set', 'dlp.enabled', 'true']), 'policy set');
    assert.equal((JSON.parse(readFileSync(join(t.cordonHome, 'policy.json'), 'utf8')) as { dlp: { enabled: boolean } }).dlp.enabled, true);
  },
  'policy sign': async () => {
    const key = join(t.root, 'signing.pem');
    writeFileSync(key, generateBundleKeyPair().privateKeyPem);
    const src = join(t.root, 'fleet.json');
    writeFileSync(src, JSON.stringify({ egress: { mode: 'enforce' } }));
    ok(await t.run(['policy', 'sign', '--key', key, '--serial', '1', src]), 'policy sign');
    assert.ok(existsSync(join(t.root, 'fleet.bundle.json.sig')));
  },
  'policy schema': async () => {
    const r = await t.run(['policy', 'schema']);
    ok(r, 'policy schema');
    assert.ok('egress' in (JSON.parse(r.stdout) as { properties: Record<string, unknown> }).properties);
  },
  'keys set': async () => {
    ok(await t.run(['keys', 'set', 'anthropic'], { input: 'sk-ant-smoke-0123456789abcdef\n' }), 'keys set');
  },
  'keys status': async () => {
    const r = await t.run(['keys', 'status', '--json', 'anthropic']);
    ok(r, 'keys status');
    assert.equal((JSON.parse(r.stdout) as { providers: Array<{ state: string }> }).providers[0]?.state, 'present');
    assert.doesNotMatch(r.stdout, /sk-ant-smoke/);
  },
  'keys rotate': async () => {
    ok(await t.run(['keys', 'rotate', 'anthropic'], { input: 'sk-ant-smoke-rotated-0123456789\n' }), 'keys rotate');
  },
  'keys remove': async () => {
    const r = await t.run(['keys', 'remove', 'anthropic']);
    ok(r, 'keys remove');
    assert.match(r.stdout, /Removed the API key for anthropic/);
  },
  'dlp scan': async () => {
    const file = join(t.root, 'leak.txt');
    writeFileSync(file, `deploy with ${SECRET}\n`);
    const r = await t.run(['dlp', 'scan', '--json', file]);
    // 1: findings (a check that "failed"), as `dlp --help` documents.
    assert.equal(r.code, 1, r.stderr);
    assert.equal((JSON.parse(r.stdout.split('\n')[0] ?? '') as { detector: string }).detector, 'aws_access_key_id');
  },
  'dlp redact': async () => {
    const file = join(t.root, 'leak.txt');
    const r = await t.run(['dlp', 'redact', file]);
    ok(r, 'dlp redact');
    assert.match(r.stdout, /^deploy with \S+\n$/);
    assert.ok(!r.stdout.includes(SECRET), r.stdout);
  },
  'profile schema': async () => {
    const r = await t.run(['profile', 'schema']);
    ok(r, 'profile schema');
    assert.ok('runtime' in (JSON.parse(r.stdout) as { properties: Record<string, unknown> }).properties);
  },
  ui: async () => {
    // The full check (socket calls, refusals) is cli/ui-command.docker.test.ts; here: it starts and stops cleanly.
    if (!existsSync(join(REPO_ROOT, 'dist', 'renderer', 'index.html'))) {
      const r = await t.run(['ui', '--port', '0']);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /the UI is not built/);
      return;
    }
    const child = t.spawn(['ui', '--port', '0']);
    const result = collect(child, undefined, 60_000);
    let out = '';
    await new Promise<void>((resolve) =>
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString('utf8');
        if (out.includes('\n')) resolve();
      }),
    );
    assert.match(out, /^Cordon UI: http:\/\/127\.0\.0\.1:\d+\/#token=[0-9a-f]{64}\n$/);
    child.kill('SIGTERM');
    ok(await result, 'ui');
  },
  'approvals list': async () => {
    ok(await t.run(['approvals', 'list', '--json']), 'approvals list');
  },
  'approvals allow': async () => {
    const id = filedApproval('allow.example:443');
    ok(await t.run(['approvals', 'allow', id, '--for', '30m']), 'approvals allow');
  },
  'approvals deny': async () => {
    const id = filedApproval('deny.example:443');
    ok(await t.run(['approvals', 'deny', id]), 'approvals deny');
  },
  'approvals watch': async () => {
    // Without a terminal it refuses and names the scriptable commands (cli/approvals-cli.test.ts drives the prompt).
    const r = await t.run(['approvals', 'watch']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /approvals list/);
  },
  quarantine: async () => {
    const host = t.spawn(['exec', '--', 'sh', '-c', 'sleep 60']);
    const hosted = collect(host, undefined, 90_000);
    const id = (await runningSessionOf(host.pid))?.id ?? '';
    assert.notEqual(id, '', 'a session to quarantine');
    const r = await t.run(['quarantine', id, '--reason', 'every-command']);
    ok(r, 'quarantine');
    assert.ok(existsSync(r.stdout.trim()), 'the bundle path on stdout');
    assert.equal((await hosted).code, 125);
    ok(await t.run(['quarantine', 'purge', id]), 'quarantine purge');
  },
  'audit export': async () => {
    const r = await t.run(['audit', 'export', '--since', '1']);
    ok(r, 'audit export');
    assert.equal((JSON.parse(r.stdout.split('\n')[0] ?? '') as { seq: number }).seq, 2);
    const cef = await t.run(['audit', 'export', '--since', '1', '--format', 'cef']);
    ok(cef, 'audit export --format cef');
    assert.match(cef.stdout.split('\n')[0] ?? '', /^CEF:0\|Cordon\|Cordon\|[^|]+\|\d+\|[^|]+\|\d+\|rt=\d+ .*cn1Label=seq cn1=2 /);
    // --follow delivers to policy's destinations until stopped: a CEF file here, from a managed policy removed afterwards.
    const managed = join(t.policyDir, 'managed', '50-export.json');
    const out = join(t.root, 'siem-follow.cef');
    writeFileSync(managed, JSON.stringify({ audit: { export: { destinations: [{ type: 'file', name: 'every-command', path: out, format: 'cef' }] } } }));
    try {
      const follow = t.spawn(['audit', 'export', '--follow']);
      const followed = collect(follow, undefined, 60_000);
      assert.ok(await eventually(() => existsSync(out) && readFileSync(out, 'utf8').split('\n').length > 5), 'the follower wrote the log out');
      follow.kill('SIGTERM');
      ok(await followed, 'audit export --follow');
      assert.match(readFileSync(out, 'utf8'), /^CEF:0\|Cordon\|/);
    } finally {
      rmSync(managed, { force: true });
    }
  },
  'audit verify': async () => {
    const r = await t.run(['audit', 'verify', '--json']);
    ok(r, 'audit verify');
    assert.equal((JSON.parse(r.stdout) as { ok: boolean }).ok, true);
    assert.ok(t.auditRecords().length > 5, 'the runs above were audited');
  },
};

/** Subcommand names listed under "Commands:" in commander's help (wrapped descriptions are indented further). */
function listedCommands(help: string): string[] {
  const section = help.split(/^Commands:\n/m)[1] ?? '';
  const names: string[] = [];
  for (const line of section.split('\n')) {
    if (line.trim() === '') break;
    const m = /^ {2}(\S+)/.exec(line);
    if (m?.[1] && m[1] !== 'help') names.push(m[1]);
  }
  return names;
}

before(() => {
  assert.ok(process.env['DBUS_SESSION_BUS_ADDRESS'], 'run through scripts/run-tests.mjs (it starts a throwaway Secret Service for `cordon keys`)');
  // What bin/cordon runs: the bundle from a code cache that V8 accepts.
  const bundle = join(REPO_ROOT, 'dist', 'bundle', 'cordon.cjs');
  const loader = createRequire(import.meta.url)(join(REPO_ROOT, 'bin', 'cordon-loader.cjs')) as { compile(file: string, cachedData?: Buffer): { cachedDataRejected?: boolean } };
  assert.equal(loader.compile(bundle, readFileSync(`${bundle}.cache`)).cachedDataRejected, false, 'run `npm run build` first');
});

test('every command and group answers --help through bin/cordon, and every command has a real run below', async () => {
  const leaves: string[] = [];
  const walk = async (path: string[]): Promise<void> => {
    const r = await t.run([...path, '--help']);
    ok(r, `cordon ${path.join(' ')} --help`);
    assert.match(r.stdout, new RegExp(`^Usage: cordon${path.map((p) => ` ${p}`).join('')}\\b`), r.stdout);
    const children = listedCommands(r.stdout);
    if (children.length === 0) leaves.push(path.join(' '));
    for (const c of children) await walk([...path, c]);
  };
  await walk([]);
  assert.ok(leaves.length >= 20, leaves.join(', '));
  assert.deepEqual([...leaves].sort(), Object.keys(REAL_RUNS).sort());
  const version = await t.run(['--version']);
  ok(version, '--version');
  assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
});

for (const [command, run] of Object.entries(REAL_RUNS)) {
  test(`cordon ${command} runs through bin/cordon`, run);
}
