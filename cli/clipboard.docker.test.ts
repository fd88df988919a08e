/**
 * The clipboard tools inside real sandboxes (issue 18, item 2), against a
 * real X server (Xvfb) and the host's real xclip: what the sandbox's `xclip`,
 * `pbcopy`, `wl-paste` … read and write crosses the gate (scan, redact, ask,
 * deny, rate) and is audited without its content. Under runc and gVisor.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { collect, eventually, TestEnv } from './test-harness.js';

const DISPLAY = `:${200 + (process.pid % 300)}`;
let xvfb: ChildProcess;
const X = { DISPLAY };

function hostCopy(type: string, data: Buffer | string): void {
  // No pipe but stdin: xclip's background child keeps serving the selection, and would hold it open.
  const r = spawnSync('xclip', ['-selection', 'clipboard', '-t', type, '-i'], { input: data, env: { ...process.env, ...X }, stdio: ['pipe', 'ignore', 'ignore'], timeout: 10_000 });
  assert.equal(r.status, 0);
}

function hostPaste(type = 'UTF8_STRING'): Buffer {
  const r = spawnSync('xclip', ['-selection', 'clipboard', '-t', type, '-o'], { env: { ...process.env, ...X }, timeout: 10_000 });
  return r.status === 0 ? r.stdout : Buffer.alloc(0);
}

/** A small real PNG (a gradient), so the bytes are an image and not text. */
function png(seed: number): Buffer {
  const w = 16;
  const h = 16;
  const raw = Buffer.alloc(h * (1 + w * 3));
  for (let y = 0; y < h; y++) {
    raw[y * (1 + w * 3)] = 0;
    for (let x = 0; x < w; x++) raw.set([(x * 16 + seed) & 255, (y * 16) & 255, seed & 255], y * (1 + w * 3) + 1 + x * 3);
  }
  const chunk = (type: string, data: Buffer): Buffer => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
// Not an AWS documentation example (DLP ignores those): a key-shaped string.
const AWS_KEY = 'AKIAZ3MXQ7VJ2XKLP4NQ';

before(async () => {
  xvfb = spawn('Xvfb', [DISPLAY, '-nolisten', 'tcp', '-screen', '0', '640x480x24'], { stdio: 'ignore' });
  const up = await eventually(() => spawnSync('xclip', ['-selection', 'clipboard', '-o'], { env: { ...process.env, ...X }, timeout: 5_000 }).stderr.toString().includes("Can't open display") === false, 10_000);
  assert.ok(up, `Xvfb did not start on ${DISPLAY}`);
});
after(() => {
  xvfb.kill();
});

for (const { runtime, base } of [
  { runtime: 'runc', base: 'standard' },
  { runtime: 'runsc', base: 'strict' },
] as const) {
  describe(`the clipboard tools under ${runtime}`, () => {
    const t = new TestEnv(`clip-${runtime}`);
    const profile = t.profile(`clip-${runtime}`, base, { limits: { memoryMiB: 256, cpus: 1, pids: runtime === 'runc' ? 128 : 512, tmpfsMiB: 64 } });
    const exec = (script: string) => t.run(['exec', '--profile', profile, '--workspace', t.workspace('ws'), '--', 'sh', '-c', script], { env: X });
    const setPolicy = (doc: unknown): void => writeFileSync(join(t.cordonHome, 'policy.json'), JSON.stringify(doc));
    after(() => t.cleanup());

    test('text with a secret on the host clipboard arrives redacted; a PNG the host copied arrives byte for byte', async () => {
      setPolicy({});
      hostCopy('UTF8_STRING', `deploy with ${AWS_KEY} today`);
      const r = await exec('xclip -selection clipboard -o; echo " rc=$?"');
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'deploy with [REDACTED:aws_access_key_id] today rc=0\n');
      const image = png(runtime === 'runc' ? 1 : 2);
      hostCopy('image/png', image);
      const i = await exec('xclip -selection clipboard -t TARGETS -o; xclip -selection clipboard -t image/png -o | sha256sum');
      assert.equal(i.code, 0, i.stderr);
      assert.match(i.stdout, /^TARGETS\nimage\/png\n/);
      assert.match(i.stdout, new RegExp(`^${sha(image)}  -$`, 'm'));
      const audit = readFileSync(join(t.cordonHome, 'audit', 'audit.jsonl'), 'utf8');
      assert.ok(!audit.includes(AWS_KEY), 'the audit log holds the transferred secret');
      const redact = t.auditRecords().find((a) => a.cordon['kind'] === 'gate.redact' && a.cordon['channel'] === 'clipboard');
      assert.equal(redact?.cordon['direction'], 'toSandbox');
    });

    test('pbcopy of a card number leaves it redacted on the host; a PNG copied out is refused by default and round-trips when allowed', async () => {
      setPolicy({});
      const pic = png(runtime === 'runc' ? 3 : 4);
      writeFileSync(join(t.workspace('ws'), 'pic.png'), pic);
      const r = await exec(`printf 'card 4111 1111 1111 1111' | pbcopy; echo "rc=$?"; xclip -selection clipboard -t image/png -i < pic.png; echo "png=$?"`);
      assert.match(r.stdout, /^rc=0$/m);
      assert.match(r.stdout, /^png=1$/m);
      assert.match(r.stderr, /xclip: .*has no text to scan|xclip: .*cannot/);
      assert.equal(hostPaste().toString('utf8'), 'card [REDACTED:credit_card]');
      setPolicy({ gates: { clipboard: { fromSandbox: 'allow' } } });
      const ok = await exec('xclip -selection clipboard -t image/png -i < pic.png; echo "png=$?"');
      assert.match(ok.stdout, /^png=0$/m);
      assert.equal(sha(hostPaste('image/png')), sha(pic));
      assert.ok(!readFileSync(join(t.cordonHome, 'audit', 'audit.jsonl'), 'utf8').includes('4111 1111'));
    });

    if (runtime === 'runc') {
      test('deny: the tool exits non-zero with the reason; over the rate: refused and audited; ask: waits in the queue and follows the answer', async () => {
        hostCopy('UTF8_STRING', 'harmless text');
        setPolicy({ gates: { clipboard: { toSandbox: 'deny' } } });
        const d = await exec('xclip -selection clipboard -o; echo "rc=$?"; wl-paste; echo "wl=$?"');
        assert.match(d.stdout, /^rc=1$/m);
        assert.match(d.stdout, /^wl=1$/m);
        assert.match(d.stderr, /xclip: .*policy/);
        assert.doesNotMatch(d.stdout, /harmless/);

        setPolicy({ gates: { clipboard: { ratePerMinute: 3 } } });
        const rated = await exec('for i in 1 2 3 4 5; do pbpaste >/dev/null 2>&1; echo "r$i=$?"; done');
        assert.equal(rated.stdout, 'r1=0\nr2=0\nr3=0\nr4=1\nr5=1\n');
        assert.ok(t.auditRecords().some((a) => a.cordon['kind'] === 'gate.deny' && a.cordon['reason'] === 'rate_limited'));

        setPolicy({ gates: { clipboard: { toSandbox: 'ask' } }, approvals: { timeoutSeconds: 60 } });
        const run = collect(t.spawn(['exec', '--profile', profile, '--workspace', t.workspace('ws'), '--', 'sh', '-c', 'xclip -selection clipboard -o; echo " rc=$?"'], X), undefined, 120_000);
        let id = '';
        const asked = await eventually(async () => {
          const l = JSON.parse((await t.run(['approvals', 'list', '--json'])).stdout) as Array<{ id: string; kind: string; status: string }>;
          id = l.find((x) => x.kind === 'clipboard' && x.status === 'pending')?.id ?? '';
          return id !== '';
        }, 60_000);
        assert.ok(asked, 'no clipboard request in the queue');
        assert.equal((await t.run(['approvals', 'allow', id])).code, 0);
        const r = await run;
        assert.equal(r.stdout, 'harmless text rc=0\n');
      });
    }
  });
}
