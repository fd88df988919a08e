/**
 * `cordon quarantine` end to end (issue 20), through bin/cordon against the
 * real Docker Engine: a session hosted by one `cordon exec` process is
 * quarantined by another while a model request is in flight. The phantom
 * must be refused by the session's proxy within 1 s of the command (printed; asserted within 3 s); the
 * container must be seen paused, then stopped, with its file system kept; the
 * bundle's manifest must verify against the key the audit log names and hold
 * neither the phantom nor the real key. Loopback only.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import http from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import Docker from 'dockerode';
import { makeTestCerts, type TestCerts } from '../core/egress/test-certs.js';
import { verifyEvidenceBundle } from '../core/response/evidence-bundle.js';
import { startFakeVendor, type FakeVendor } from './fake-vendor.js';
import { collect, cordonContainers, eventually, purgeQuarantines, runningSessionOf, TestEnv } from './test-harness.js';

const t = new TestEnv('quarantine');
const REAL_KEY = `sk-ant-api03-REAL-${randomBytes(16).toString('hex')}`;
let certs: TestCerts;
let vendor: FakeVendor;
let messages = 0;

before(async () => {
  certs = makeTestCerts(['api.anthropic.test']);
  // The first model request hangs (the one in flight when the quarantine comes); later ones answer at once.
  vendor = await startFakeVendor({ key: certs.keyPem, cert: certs.certPem, replyText: 'ok', script: () => (++messages === 1 ? { text: 'late', delayMs: 30_000 } : { text: 'ok' }) });
  const cred = join(t.root, 'cred.sh');
  writeFileSync(cred, `#!/bin/sh\nprintf '{"token":"${REAL_KEY}","expiresAt":"2099-01-01T00:00:00Z"}'\n`, { mode: 0o700 });
  writeFileSync(
    join(t.cordonHome, 'policy.json'),
    JSON.stringify({
      providers: { anthropic: { baseUrl: `https://api.anthropic.test:${vendor.port}`, caFile: certs.caFile, credentialCommand: [cred] } },
      egress: { allowRanges: ['127.0.0.0/8'], resolve: { 'api.anthropic.test': '127.0.0.1' } },
      // The session's host exports the log as it runs (issue 20, item 1): a rotating-file destination.
      audit: { export: { destinations: [{ type: 'file', name: 'siem-file', path: join(t.root, 'siem.jsonl') }] } },
    }),
  );
});
after(async () => {
  // What quarantine kept (containers and images) goes with the test's quarantine records.
  await purgeQuarantines(t);
  await vendor.close();
  certs.cleanup();
  t.cleanup();
});

/** A model request straight to the session's proxy socket on the host, with the phantom: status and the deny reason. */
function viaProxy(sock: string, phantom: string): Promise<{ status: number; deny: string }> {
  return new Promise((resolve) => {
    const body = JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
    const req = http.request(
      { socketPath: sock, method: 'POST', path: '/model/anthropic/v1/messages', headers: { host: '127.0.0.1:3128', 'x-api-key': phantom, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }, timeout: 5000 },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, deny: String(res.headers['x-cordon-deny'] ?? '') }));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve({ status: 0, deny: 'connection' }));
    req.end(body);
  });
}

describe('cordon quarantine', () => {
  test('during a model request: phantom refused within 1 s, paused then stopped and kept, signed bundle verifies', { timeout: 180_000 }, async () => {
    const ws = t.workspace('ws');
    const body = '{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}';
    // The agent: leaves its phantom and a payload behind, prints, then starts a model request that hangs.
    const agent = `echo "$ANTHROPIC_API_KEY" > ${ws}/phantom.txt; echo payload-${randomBytes(4).toString('hex')} > /tmp/dropped.bin; echo agent-says-hello; curl -s -m 60 "$ANTHROPIC_BASE_URL/v1/messages" -H "x-api-key: $ANTHROPIC_API_KEY" -H content-type:application/json -d '${body}'; sleep 120`;
    const host = t.spawn(['exec', '--workspace', ws, '--', 'sh', '-c', agent]);
    const hosted = collect(host, undefined, 170_000);
    const session = await runningSessionOf(host.pid, 60_000, () => messages >= 1);
    assert.ok(session, 'the session started and its model request reached the vendor');
    const { id, containerId } = session;
    const phantom = readFileSync(join(ws, 'phantom.txt'), 'utf8').trim();
    assert.match(phantom, /^cdn_ph_[A-Za-z0-9_-]{43}$/);
    const sock = join(t.cordonHome, 'sessions', id, 'egress', 'proxy.sock');
    // Before: the phantom works from the host side too (the vendor's second answer is immediate).
    assert.equal((await viaProxy(sock, phantom)).status, 200);

    const docker = new Docker();
    const states = new Set<string>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        try {
          states.add((await docker.getContainer(containerId).inspect()).State.Status);
        } catch {
          states.add('gone');
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const started = Date.now();
    const q = collect(t.spawn(['quarantine', id.slice(0, 6), '--reason', 'test: exfiltration suspected']), undefined, 60_000);
    let refusedAfter = -1;
    let refusal = { status: 0, deny: '' };
    while (Date.now() - started < 5000) {
      const r = await viaProxy(sock, phantom);
      // Status 0: a request in flight when egress was closed was cut; the next one must be refused by the proxy.
      if (r.status === 0) continue;
      if (r.status !== 200) {
        refusedAfter = Date.now() - started;
        refusal = r;
        break;
      }
      await new Promise((res) => setTimeout(res, 50));
    }
    const out = await q;
    watching = false;
    await watcher;
    assert.equal(out.code, 0, out.stderr);
    // The 1 s target is a figure printed here (it includes starting the CLI), not asserted: a loaded CI machine
    // must not fail it. What is asserted is that the refusal came, from the proxy, well inside the polling window.
    process.stderr.write(`# quarantine: phantom refused ${refusedAfter} ms after the command (target <= 1000 ms: ${refusedAfter <= 1000 ? 'met' : 'NOT met'}); ${out.stderr.replace(/\n/g, ' | ')}\n`);
    assert.ok(refusedAfter >= 0 && refusedAfter <= 3000, `phantom refused after ${refusedAfter} ms (${JSON.stringify(refusal)})`);
    assert.equal(refusal.status, 403, JSON.stringify(refusal));
    assert.equal(refusal.deny, 'revoked', JSON.stringify(refusal));

    // Paused, then stopped: the engine removed the original (AutoRemove); a stopped copy is kept.
    assert.ok(states.has('paused'), `states seen: ${[...states].join(',')}`);
    assert.ok(await eventually(async () => (await cordonContainers(id)).every((c) => c.Id !== containerId), 10_000), 'the original container is gone after the stop');
    const kept = await docker.listContainers({ all: true, filters: { label: [`dev.cordon.quarantine=${id}`] } });
    assert.equal(kept.length, 1);
    assert.equal(kept[0]?.State, 'created', 'kept, never started');
    // Kept containers are not sessions: `cordon ps` does not list it, and the orphan sweep (every command) leaves it.
    const ps = await t.run(['ps', '--json']);
    assert.ok(!ps.stdout.includes(id), ps.stdout);

    // The hosting `cordon exec` ends, saying why (125: Cordon ended it).
    const h = await hosted;
    assert.equal(h.code, 125, h.stderr);
    assert.match(h.stderr, /quarantined by cordon quarantine/);
    // The host exported the session's records, the quarantine's included, before it exited.
    const exported = readFileSync(join(t.root, 'siem.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { seq: number; hash: string; cordon: { kind: string } });
    assert.ok(exported.some((r) => r.cordon.kind === 'session.start') && exported.some((r) => r.cordon.kind === 'quarantine.evidence'), exported.map((r) => r.cordon.kind).join(','));
    assert.ok(exported.every((r, i) => i === 0 || r.seq > (exported[i - 1]?.seq ?? 0)), 'in order');

    // The bundle: its path alone on stdout, under $CORDON_HOME/evidence, signed by the key the audit log names.
    const bundle = out.stdout.trim();
    assert.equal(bundle.split('\n').length, 1);
    assert.ok(bundle.startsWith(join(t.cordonHome, 'evidence', `${id}-`)) && bundle.endsWith('.tar.gz'), bundle);
    const evidence = t.auditRecords().find((r) => r.cordon['kind'] === 'quarantine.evidence');
    assert.ok(evidence, 'quarantine.evidence audited');
    const check = verifyEvidenceBundle(bundle, [String(evidence.cordon['key_fingerprint'])]);
    assert.ok(check.ok, check.ok ? '' : check.reason);
    assert.equal(check.manifestSha256, evidence.cordon['manifest_sha256']);
    const names = check.manifest.files.map((f) => f.name);
    for (const n of ['container-inspect.json', 'fs-diff.json', 'processes.json', 'recent-output.txt', 'proxy-connections.json', 'audit-slice.jsonl', 'audit-checkpoint.json', 'effective-policy.json', 'workspace-changes.json', 'watcher-findings.json', 'sandbox-fs/tmp/dropped.bin']) {
      assert.ok(names.includes(n), `${n} in the bundle (has: ${names.join(', ')})`);
    }
    const tar = gunzipSync(readFileSync(bundle)).toString('latin1');
    assert.ok(tar.includes('agent-says-hello'), 'recent output kept');
    assert.ok(tar.includes('phantom.txt'), 'workspace change listed');
    assert.ok(!tar.includes(phantom), 'the phantom is not in the bundle');
    assert.ok(!tar.includes(REAL_KEY), 'the real key is not in the bundle');
    const contained = t.auditRecords().find((r) => r.cordon['kind'] === 'quarantine.contained');
    assert.ok(Number(contained?.cordon['connections_cut']) >= 1, 'the request in flight was cut');
    assert.ok(Number(evidence.cordon['bundle_ms']) <= 10_000, `bundle took ${String(evidence.cordon['bundle_ms'])} ms`);

    // release: the kept container and image go, the bundle stays; purge: the bundle goes too.
    const rel = await t.run(['quarantine', 'release', id]);
    assert.equal(rel.code, 0, rel.stderr);
    assert.equal((await docker.listContainers({ all: true, filters: { label: [`dev.cordon.quarantine=${id}`] } })).length, 0);
    assert.ok(existsSync(bundle));
    const purge = await t.run(['quarantine', 'purge', id]);
    assert.equal(purge.code, 0, purge.stderr);
    assert.ok(!existsSync(bundle));
    assert.ok(t.auditRecords().some((r) => r.cordon['kind'] === 'quarantine.purge'));
  });

  test('a host that does not answer (stopped with SIGSTOP): the quarantining process pauses, bundles and keeps through the engine', { timeout: 180_000 }, async () => {
    const ws = t.workspace('ws-stopped');
    const host = t.spawn(['exec', '--workspace', ws, '--', 'sh', '-c', 'echo left-behind > /tmp/left.txt; sleep 120']);
    const hosted = collect(host, undefined, 170_000);
    const id = (await runningSessionOf(host.pid))?.id ?? '';
    assert.notEqual(id, '');
    await new Promise((r) => setTimeout(r, 500));
    process.kill(host.pid as number, 'SIGSTOP');
    let q;
    try {
      q = await t.run(['quarantine', id, '--reason', 'host frozen']);
    } finally {
      process.kill(host.pid as number, 'SIGCONT');
    }
    assert.equal(q.code, 0, q.stderr);
    assert.match(q.stderr, /quarantined from outside \(its host did not answer/);
    const evidence = t.auditRecords().find((r) => r.cordon['kind'] === 'quarantine.evidence' && r.cordon['session_id'] === id);
    assert.ok(evidence);
    const check = verifyEvidenceBundle(q.stdout.trim(), [String(evidence.cordon['key_fingerprint'])]);
    assert.ok(check.ok, check.ok ? '' : check.reason);
    assert.ok(check.manifest.files.some((f) => f.name === 'sandbox-fs/tmp/left.txt'), 'the tmpfs was read from the engine side');
    assert.ok(check.manifest.missing.some((m) => m.name === 'recent-output.txt'), 'what only the host holds is listed as missing');
    const kept = await new Docker().listContainers({ all: true, filters: { label: [`dev.cordon.quarantine=${id}`] } });
    assert.equal(kept.length, 1);
    // The host, resumed, finds its sandbox gone and ends instead of hanging.
    const h = await hosted;
    assert.notEqual(h.code, 0);
  });

  test('under gVisor: the tmpfs is reported missing and no host file ever enters the bundle', { timeout: 180_000 }, async () => {
    // gVisor's host-side processes have the host's root: a marker in the host's /tmp must not be copied.
    const marker = join(tmpdir(), `cordon-host-marker-${randomBytes(6).toString('hex')}`);
    writeFileSync(marker, 'host-only');
    try {
      const ws = t.workspace('ws-gvisor');
      const host = t.spawn(['exec', '--profile', 'strict', '--workspace', ws, '--', 'sh', '-c', 'sleep 120']);
      const hosted = collect(host, undefined, 170_000);
      const id = (await runningSessionOf(host.pid))?.id ?? '';
      assert.notEqual(id, '');
      await new Promise((r) => setTimeout(r, 500));
      const q = await t.run(['quarantine', id]);
      assert.equal(q.code, 0, q.stderr);
      const check = verifyEvidenceBundle(q.stdout.trim());
      assert.ok(check.ok, check.ok ? '' : check.reason);
      assert.ok(check.manifest.missing.some((m) => m.name === 'sandbox-fs/tmp' && /gVisor/.test(m.why)));
      assert.ok(!check.manifest.files.some((f) => f.name.startsWith('sandbox-fs/')), check.manifest.files.map((f) => f.name).join(','));
      assert.ok(!gunzipSync(readFileSync(q.stdout.trim())).toString('latin1').includes('host-only'));
      assert.equal((await hosted).code, 125);
    } finally {
      rmSync(marker, { force: true });
    }
  });

  test('an unknown session is a usage error that names it', async () => {
    const r = await t.run(['quarantine', 'ffffff']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no running session "ffffff"/);
  });
});
