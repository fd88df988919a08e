/**
 * `cordon demo` and `cordon launch` through the real command and engine.
 * launch gets a real pseudo-terminal from util-linux `script`.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { collect, CORDON_BIN, TestEnv } from './test-harness.js';

const t = new TestEnv('demo');
after(() => t.cleanup());

test('cordon demo runs a real sandbox and every verdict matches what Cordon should do', async () => {
  const r = await t.run(['demo']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.ok(!r.stdout.includes('unexpected'), r.stdout);
  assert.equal((r.stdout.match(/^\s+ALLOWED$/gm) ?? []).length, 5, r.stdout);
  assert.match(r.stdout, /the model received: "deploy with cdntk_[0-9a-f]{32}"/);
  assert.equal((r.stdout.match(/^\s+STOPPED/gm) ?? []).length, 13, r.stdout);
  // Issue 19's step: a pushed secret stopped by inspection, a phantom token that works only on its own host.
  assert.match(r.stdout, /git push to github\.demo\.cordon\.test\)\n\s+STOPPED: proxy answered 403, X-Cordon-Deny: dlp_blocked\n\s+the stand-in remote received no pack\n/);
  assert.match(r.stdout, /its own host \(github\.demo\.cordon\.test, a local stand-in\)\n\s+ALLOWED\n\s+the stand-in received the real token; the sandbox only ever held the phantom\n/);
  assert.match(r.stdout, /refused \(paste\.demo\.cordon\.test\)\n\s+STOPPED: proxy answered 403, X-Cordon-Deny: credential_leak\n/);
  // The demo used its own throwaway CA: nothing of it was left in CORDON_HOME.
  assert.ok(!existsSync(join(t.cordonHome, 'inspection-ca')), 'the demo made or used the install\'s CA');
  assert.match(r.stdout, /STOPPED: proxy answered 403, X-Cordon-Deny: host_not_allowed/);
  assert.match(r.stdout, /STOPPED: proxy answered 403, X-Cordon-Deny: host_denied/);
  assert.match(r.stdout, /STOPPED: proxy answered 403, X-Cordon-Deny: model_route_only/);
  assert.match(r.stdout, /hash chain intact/);
  const audit = readFileSync(join(t.cordonHome, 'audit', 'audit.jsonl'), 'utf8');
  assert.ok(!audit.includes('AKIAQ3EGRJ2KZ7XNP4VB') && !audit.includes('ghp_DemoRealToken'), 'a secret reached the audit log');
  const kinds = t.auditRecords().map((e) => e.cordon['kind']);
  for (const k of ['session.start', 'session.stop', 'mount.allow', 'mount.deny']) assert.ok(kinds.includes(k), k);
  assert.deepEqual(await t.containers(), []);
});

test('cordon launch gives the agent a terminal and returns its exit code', async () => {
  const ws = t.workspace('ws-launch');
  // The terminal size is sent right after start (the engine cannot take it at
  // create time), so the probe waits a moment as a real agent would on SIGWINCH.
  // No provider: this profile's command needs no key (launch checks for one otherwise).
  const profile = t.profile('launch-tty', 'standard', { provider: undefined, command: ['sh', '-c', 'sleep 1; test -t 0 && test -t 1 && echo "TTY-OK $(stty size)" && pwd && exit 5'] });
  assert.ok(existsSync('/usr/bin/script'), 'util-linux script is needed to give cordon a terminal');
  const cmd = `stty rows 33 cols 101; ${JSON.stringify(CORDON_BIN)} launch --profile ${profile} --workspace ${ws}`;
  const child = spawn('script', ['-qec', cmd, '/dev/null'], { env: t.env, stdio: ['pipe', 'pipe', 'pipe'] });
  const r = await collect(child, undefined, 60_000);
  assert.match(r.stdout, /TTY-OK 33 101/);
  assert.ok(r.stdout.includes(ws));
  assert.equal(r.code, 5, r.stdout + r.stderr);
});
