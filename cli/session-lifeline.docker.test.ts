/**
 * Issue 13, on the real Docker Engine under runc and gVisor: a sandbox never
 * outlives its launcher. Whatever kills the launcher (SIGKILL through the real
 * `cordon` command, a host of sessions that aborts), the agent stops writing
 * to the workspace within 1 s and the container is gone within 2 s, with no
 * other Cordon process involved; an agent that tries to keep its sandbox alive
 * fails; a launcher that is only stopped is not dead. Figures are printed.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DockerEngine } from '../core/sandbox/docker-engine.js';
import { RELAY_EXIT_LIFELINE_LOST } from '../core/session/session-lifeline.js';
import { LABELS } from '../core/session/session-runner.js';
import { collect, cordonContainers, eventually, REPO_ROOT, TestEnv } from './test-harness.js';

const t = new TestEnv('lifeline');
after(() => t.cleanup());
const engine = new DockerEngine();

const RUNTIMES = [
  { runtime: 'runc', profile: 'standard' },
  { runtime: 'runsc', profile: 'strict' },
] as const;

/** Shell: appends the time (ns since the epoch) to FILE every 100 ms, forever. */
const appendEvery100ms = (file: string): string => `while :; do date +%s%N >> ${file}; sleep 0.1; done`;

/** Timestamps written to FILE, in ms since the epoch. */
function stamps(file: string): number[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => /^\d+$/.test(l))
    .map((l) => Number(l) / 1e6);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The session whose container carries LAUNCHER's pid, once it runs. */
async function sessionOf(launcherPid: number): Promise<string> {
  let id = '';
  const up = await eventually(async () => {
    const mine = (await cordonContainers()).find((c) => c.Labels[LABELS.ownerPid] === String(launcherPid) && c.State === 'running');
    id = mine?.Labels[LABELS.session] ?? '';
    return id !== '';
  }, 60_000);
  assert.ok(up, 'the session never started');
  return id;
}

/** Every process LAUNCHER started (the tunnel splicer), read before it dies. */
function childrenOf(pid: number): number[] {
  const kids: number[] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
    if (text !== '') kids.push(...text.split(' ').map(Number));
  }
  return kids;
}

function running(pid: number): boolean {
  try {
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * How a sandbox ends when its launcher dies: its relay ends it on the broken
 * lifeline, or (a relay stopped from inside, which gVisor allows) the
 * launcher's sentinel has the engine kill it.
 */
type Ending = 'lifeline_lost' | 'killed';

/**
 * After the launcher died at KILLED_AT (ms): waits for the session's container
 * to leave the engine, then checks how and when it ended. Returns the figures.
 */
async function assertEndsWithLauncher(what: string, sessionId: string, files: readonly string[], killedAt: number, ending: Ending = 'lifeline_lost'): Promise<{ lastWriteMs: number; dieMs: number; goneMs: number }> {
  let goneAt = 0;
  // Polled through the engine, 20 ms apart.
  const gone = await eventually(async () => {
    if ((await cordonContainers(sessionId)).length > 0) return false;
    goneAt = Date.now();
    return true;
  }, 10_000, 20);
  assert.ok(gone, `${what}: the container was still there 10 s after the launcher died`);
  const goneMs = goneAt - killedAt;
  const exit = await engine.lastExit({ [LABELS.session]: sessionId }, new Date(killedAt - 60_000));
  assert.ok(exit, `${what}: the engine recorded no exit`);
  if (ending === 'lifeline_lost') {
    // The relay's own status: the lifeline ended this sandbox, not the sentinel or the engine.
    assert.equal(exit.exitCode, RELAY_EXIT_LIFELINE_LOST, what);
    assert.equal(exit.killed, false, what);
  } else {
    assert.equal(exit.killed, true, `${what}: the engine was not asked to kill it`);
  }
  const dieMs = exit.at.getTime() - killedAt;
  const before = files.map((f) => statSync(f).size);
  await sleep(500);
  assert.deepEqual(
    files.map((f) => statSync(f).size),
    before,
    `${what}: a file still grew after the container was gone`,
  );
  const lastWriteMs = Math.max(...files.map((f) => Math.max(...stamps(f)))) - killedAt;
  console.log(`${what}: last write ${lastWriteMs.toFixed(0)} ms after the kill, sandbox ended (engine's die) at ${dieMs.toFixed(0)} ms, container gone at ${goneMs} ms`);
  assert.ok(lastWriteMs < 1000, `${what}: the agent wrote ${lastWriteMs.toFixed(0)} ms after its launcher died`);
  assert.ok(goneMs < 2000, `${what}: the container was gone only ${goneMs} ms after its launcher died`);
  return { lastWriteMs, dieMs, goneMs };
}

/** The next Cordon command reaps what is left and audits how the session ended, and when. */
async function assertReaped(sessionId: string, killedAt: number, ending: Ending = 'lifeline_lost'): Promise<void> {
  const r = await t.run(['ps']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`cleaned up \\d+ session\\(s\\).*${sessionId}`));
  assert.ok(!existsSync(join(t.cordonHome, 'sessions', sessionId)), 'session folder left behind');
  const rec = t.auditRecords().find((e) => e.cordon['kind'] === 'session.orphan_removed' && e.cordon['session_id'] === sessionId);
  assert.ok(rec, 'no session.orphan_removed record');
  assert.equal(rec.cordon['ended_by'], ending);
  if (ending === 'lifeline_lost') assert.equal(rec.cordon['exit_code'], RELAY_EXIT_LIFELINE_LOST);
  const endedAt = Date.parse(String(rec.cordon['ended_at']));
  assert.ok(endedAt >= killedAt - 1000 && endedAt <= killedAt + 1000, `ended_at ${String(rec.cordon['ended_at'])} is not the launcher's death`);
  assert.match(String(rec['message']), ending === 'lifeline_lost' ? /ended itself at .* when its launcher died/ : /killed through the engine at .*by its sentinel/);
}

for (const { runtime, profile } of RUNTIMES) {
  describe(`under ${runtime}`, () => {
    test('SIGKILL of `cordon exec`: the agent stops writing within 1 s and the container is gone within 2 s; the next command audits how it ended', async () => {
      const ws = t.workspace(`kill-${runtime}`);
      const child = t.spawn(['exec', '--profile', profile, '--workspace', ws, '--', 'sh', '-c', appendEvery100ms('log')]);
      const done = collect(child, undefined, 120_000);
      const pid = child.pid ?? 0;
      const sessionId = await sessionOf(pid);
      assert.ok(await eventually(() => stamps(join(ws, 'log')).length >= 3), 'the agent never wrote');
      const helpers = childrenOf(pid);
      const killedAt = Date.now();
      child.kill('SIGKILL');
      await assertEndsWithLauncher(`${runtime}, SIGKILL of cordon exec`, sessionId, [join(ws, 'log')], killedAt);
      assert.equal((await done).signal, 'SIGKILL');
      // The launcher's own children (the tunnel splicer) die with it too.
      assert.deepEqual(
        helpers.filter((p) => running(p)),
        [],
        'a process the launcher started outlived it',
      );
      assert.ok(existsSync(join(ws, '.mcp.json')), 'the placeholder is for the next command to remove');
      await assertReaped(sessionId, killedAt);
      assert.ok(!existsSync(join(ws, '.mcp.json')), 'placeholder left behind');
    });

    test('an agent that ignores signals, forks a daemon, holds sockets and goes after PID 1 still ends with its launcher', async () => {
      const ws = t.workspace(`hostile-${runtime}`);
      const script = [
        `trap '' TERM INT HUP QUIT USR1 USR2 PIPE`,
        'note() { echo "$1" >> probes; }',
        // The lifeline is the relay's alone: a second connection, to hold or to impersonate it.
        `perl -MIO::Socket::UNIX -e 'exit(IO::Socket::UNIX->new(Peer => "/run/cordon/egress/lifeline.sock") ? 0 : 1)' && note 'lifeline connected' || note 'lifeline refused'`,
        // Disarming the relay: its environment and memory (same uid as the agent).
        `cat /proc/1/environ >/dev/null 2>&1 && note 'environ readable' || note 'environ denied'`,
        `(echo x > /proc/1/mem) 2>/dev/null && note 'mem writable' || note 'mem denied'`,
        // Freezing the relay, so it never reads its lifeline: init ignores this from inside.
        'kill -STOP 1 2>/dev/null',
        'sleep 0.2',
        `note "pid1 state $(cut -d' ' -f3 /proc/1/stat)"`,
        // Holding sockets: the proxy's, and a TCP connection to the relay's port.
        `perl -MIO::Socket::UNIX -e '$SIG{$_} = "IGNORE" for qw(TERM INT HUP); my $s = IO::Socket::UNIX->new(Peer => "/run/cordon/egress/proxy.sock") or exit 1; sleep 1000' &`,
        'exec 3<>/dev/tcp/127.0.0.1/3128',
        // A daemon in a session of its own, deaf to signals, writing too.
        `setsid sh -c 'trap "" TERM INT HUP; ${appendEvery100ms('daemon')}' </dev/null >/dev/null 2>&1 &`,
        "note 'ready'",
        appendEvery100ms('agent'),
      ].join('\n');
      const child = t.spawn(['exec', '--profile', profile, '--workspace', ws, '--', 'bash', '-c', script]);
      const done = collect(child, undefined, 120_000);
      const sessionId = await sessionOf(child.pid ?? 0);
      const probes = (): string => (existsSync(join(ws, 'probes')) ? readFileSync(join(ws, 'probes'), 'utf8') : '');
      assert.ok(await eventually(() => probes().includes('ready') && stamps(join(ws, 'daemon')).length >= 3 && stamps(join(ws, 'agent')).length >= 3), `the agent never got ready: ${probes()}`);
      assert.match(probes(), /lifeline refused/);
      assert.match(probes(), /mem denied/);
      // Linux shields a namespace's init from SIGSTOP sent inside it, and honours
      // non-dumpable for /proc/1/environ; gVisor does neither, so there the
      // stopped relay cannot act and the launcher's sentinel ends the sandbox.
      const relayStopped = /pid1 state T/.test(probes());
      const ending: Ending = relayStopped ? 'killed' : 'lifeline_lost';
      if (runtime === 'runc') {
        assert.match(probes(), /environ denied/);
        assert.ok(!relayStopped, 'the agent stopped PID 1 under runc');
      }
      console.log(`${runtime}, hostile agent's probes: ${probes().trim().split('\n').join('; ')}`);
      const killedAt = Date.now();
      child.kill('SIGKILL');
      await assertEndsWithLauncher(`${runtime}, hostile agent`, sessionId, [join(ws, 'agent'), join(ws, 'daemon')], killedAt, ending);
      await done;
      await assertReaped(sessionId, killedAt, ending);
    });

    test('a launcher stopped for 3 s (SIGSTOP) is not dead: the session carries on and finishes normally', async () => {
      const ws = t.workspace(`stop-${runtime}`);
      const lines = 40;
      const script = `i=0; while [ $i -lt ${lines} ]; do date +%s%N >> log; sleep 0.1; i=$((i+1)); done; echo finished`;
      const child = t.spawn(['exec', '--profile', profile, '--workspace', ws, '--', 'sh', '-c', script]);
      const done = collect(child, undefined, 120_000);
      const sessionId = await sessionOf(child.pid ?? 0);
      assert.ok(await eventually(() => stamps(join(ws, 'log')).length >= 3));
      const stoppedAt = Date.now();
      child.kill('SIGSTOP');
      await sleep(3000);
      const duringStop = stamps(join(ws, 'log')).filter((s) => s > stoppedAt + 500).length;
      child.kill('SIGCONT');
      const r = await done;
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /finished/);
      assert.ok(duringStop > 0, 'the agent stopped writing while its launcher was only stopped');
      assert.equal(stamps(join(ws, 'log')).length, lines);
      assert.deepEqual(await cordonContainers(sessionId), []);
      const stop = t.auditRecords().find((e) => e.cordon['kind'] === 'session.stop' && e.cordon['session_id'] === sessionId);
      assert.equal(stop?.cordon['exit_code'], 0);
    });
  });
}

describe('a long-running host of sessions', () => {
  test('a host running a runc and a gVisor session crashes (abort): both end as with SIGKILL', async () => {
    const wsRunc = t.workspace('host-runc');
    const wsRunsc = t.workspace('host-runsc');
    const sessions = [
      { profile: 'standard', workspace: wsRunc, command: ['sh', '-c', appendEvery100ms('log')] },
      { profile: 'strict', workspace: wsRunsc, command: ['sh', '-c', appendEvery100ms('log')] },
    ];
    const host = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'cli', 'crashing-session-host.js'), JSON.stringify(sessions)], {
      env: t.env,
      cwd: t.root,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    host.stdout.on('data', (d: Buffer) => (out += d.toString()));
    host.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<NodeJS.Signals | null>((r) => host.once('exit', (_code, signal) => r(signal)));
    try {
      assert.ok(await eventually(() => /started 0 /.test(out) && /started 1 /.test(out), 60_000), `the host did not start both sessions: ${out} ${err}`);
      const ids = [0, 1].map((i) => new RegExp(`started ${i} ([0-9a-f]{12})`).exec(out)?.[1] ?? '');
      assert.ok(await eventually(() => stamps(join(wsRunc, 'log')).length >= 3 && stamps(join(wsRunsc, 'log')).length >= 3), 'the agents never wrote');
      const killedAt = Date.now();
      host.stdin.write('crash\n');
      assert.equal(await exited, 'SIGABRT', err);
      const [runcId = '', runscId = ''] = ids;
      await Promise.all([
        assertEndsWithLauncher('runc, crashed host', runcId, [join(wsRunc, 'log')], killedAt),
        assertEndsWithLauncher('runsc, crashed host', runscId, [join(wsRunsc, 'log')], killedAt),
      ]);
      await assertReaped(runcId, killedAt);
      assert.ok(t.auditRecords().some((e) => e.cordon['kind'] === 'session.orphan_removed' && e.cordon['session_id'] === runscId && e.cordon['ended_by'] === 'lifeline_lost'));
    } finally {
      host.kill('SIGKILL');
    }
  });
});
