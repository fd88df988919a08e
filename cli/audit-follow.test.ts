/**
 * Audit export outside sessions (issue 20), through bin/cordon against a real
 * receiver on loopback (an OTLP/HTTP collector stand-in): records written
 * while no session runs reach it through `cordon ui` and through `cordon
 * audit export --follow`; one process delivers at a time (a second waits and
 * says for whom); a deliverer killed with SIGKILL mid-stream and started
 * again loses nothing, and the duplicates it causes are told apart by seq.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FileAuditLog } from '../core/audit/audit-log.js';
import { BATCH_RECORDS } from '../core/export/audit-exporter.js';
import { collect, eventually, TestEnv, type CordonResult } from './test-harness.js';

const t = new TestEnv('afollow');
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  t.cleanup();
});

/** A collector stand-in: every seq it is sent, in arrival order; each request is answered after DELAYMS. */
async function collector(): Promise<{ port: number; seqs: number[]; delayMs: number; close(): void }> {
  const state = { seqs: [] as number[], delayMs: 0 };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      const doc = JSON.parse(body) as { resourceLogs: Array<{ scopeLogs: Array<{ logRecords: Array<{ attributes: Array<{ key: string; value: { intValue?: string } }> }> }> }> };
      const got = (doc.resourceLogs[0]?.scopeLogs[0]?.logRecords ?? []).map((r) => Number(r.attributes.find((a) => a.key === 'cordon.seq')?.value.intValue));
      // Taken (counted) before the answer: a deliverer killed while waiting for it re-sends these.
      state.seqs.push(...got);
      setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'), state.delayMs);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    get seqs() {
      return state.seqs;
    },
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(v: number) {
      state.delayMs = v;
    },
    close: () => server.close(),
  };
}

/** A long-running cordon whose output is kept as it comes. */
function start(args: string[]): { child: ChildProcess; out: { stdout: string; stderr: string }; done: Promise<CordonResult> } {
  const child = t.spawn(args);
  children.push(child);
  const out = { stdout: '', stderr: '' };
  child.stdout?.on('data', (d: Buffer) => (out.stdout += d.toString('utf8')));
  child.stderr?.on('data', (d: Buffer) => (out.stderr += d.toString('utf8')));
  return { child, out, done: collect(child, undefined, 180_000) };
}

function headSeq(): number {
  return t.auditRecords().at(-1)?.['seq'] as number;
}

/** Seqs in first-arrival order, and how many arrived more than once. */
function dedup(seqs: readonly number[]): { order: number[]; duplicates: number } {
  const seen = new Set<number>();
  const order: number[] = [];
  for (const s of seqs) {
    if (seen.has(s)) continue;
    seen.add(s);
    order.push(s);
  }
  return { order, duplicates: seqs.length - order.length };
}

test('no session running: records reach the receiver through `cordon ui`, then `cordon audit export --follow`, across a SIGKILL mid-stream', { timeout: 240_000 }, async () => {
  const rx = await collector();
  try {
    writeFileSync(join(t.cordonHome, 'policy.json'), JSON.stringify({ audit: { export: { destinations: [{ type: 'otlp', name: 'siem', url: `http://127.0.0.1:${rx.port}` }] } } }));
    // Another Cordon process writing while no session runs (as `cordon audit`, key changes, a quarantine release do).
    const log = new FileAuditLog({ dir: join(t.cordonHome, 'audit'), productVersion: 'test' });
    const write = (n: number): void => {
      for (let i = 0; i < n; i++) log.record({ kind: 'test.between_sessions', ocsfClass: 'api_activity', activity: { id: 3, name: 'Update' }, outcome: 'success', message: `record ${i}` });
    };
    const allDelivered = (): boolean => new Set(rx.seqs).size === headSeq() && dedup(rx.seqs).order.every((s, i) => s === i + 1);

    // 1. `cordon ui`: the app's service delivers with no session in sight.
    write(20);
    const ui = start(['ui', '--port', '0']);
    assert.ok(await eventually(() => ui.out.stdout.includes('Cordon UI:'), 30_000), ui.out.stderr);
    assert.ok(await eventually(allDelivered, 15_000), `ui delivered ${rx.seqs.length} of ${headSeq()}`);
    write(15);
    assert.ok(await eventually(allDelivered, 15_000), 'records written while the ui runs leave at once');

    // 2. A --follow beside it waits, naming the process that delivers; nothing is sent twice.
    const f1 = start(['audit', 'export', '--follow']);
    assert.ok(await eventually(() => f1.out.stderr.includes(`siem is delivered by another Cordon process (pid `), 15_000), f1.out.stderr);
    write(10);
    assert.ok(await eventually(allDelivered, 15_000));
    assert.equal(dedup(rx.seqs).duplicates, 0, 'two deliverers running, no record sent twice');

    // 3. The ui stops: the follower takes over.
    ui.child.kill('SIGTERM');
    assert.equal((await ui.done).code, 0);
    assert.ok(await eventually(() => f1.out.stderr.includes('delivering the audit log to siem'), 15_000), f1.out.stderr);

    // 4. Many records and a slow receiver; the follower dies by SIGKILL in the middle.
    rx.delayMs = 250;
    const before = rx.seqs.length;
    write(3000);
    assert.ok(await eventually(() => rx.seqs.length >= before + BATCH_RECORDS, 30_000), 'the follower delivers');
    f1.child.kill('SIGKILL');
    await f1.done;
    const atKill = new Set(rx.seqs).size;
    assert.ok(atKill < headSeq(), `killed mid-stream (${atKill} of ${headSeq()} delivered)`);

    // 5. Started again: it takes over the dead one's lease and carries on from the cursor.
    rx.delayMs = 0;
    const f2 = start(['audit', 'export', '--follow']);
    assert.ok(await eventually(allDelivered, 60_000), `after the restart: ${new Set(rx.seqs).size} of ${headSeq()}`);
    const { order, duplicates } = dedup(rx.seqs);
    assert.deepEqual(order, Array.from({ length: headSeq() }, (_, i) => i + 1), 'every record, in order, none lost');
    process.stderr.write(`# SIGKILL mid-stream: ${duplicates} duplicate(s) after the restart, each with its seq\n`);
    assert.ok(duplicates <= BATCH_RECORDS, `at most the batch in flight is sent again (${duplicates})`);
    assert.doesNotMatch(f2.out.stderr, /waiting/, 'a dead holder is taken over at once');
    f2.child.kill('SIGTERM');
    const end = await f2.done;
    assert.equal(end.code, 0, end.stderr);
    assert.match(end.stderr, /SIGTERM: delivering what is left/);
  } finally {
    rx.close();
  }
});
