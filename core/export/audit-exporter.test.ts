/**
 * Audit export against real receivers on loopback (issue 20): a Splunk HEC
 * stand-in (wrong token → spooled, retried, alerted; right token → delivered),
 * and Debian's rsyslog over TCP and over TLS with a test CA, restarted in the
 * middle: every record arrives, in order, exactly once after de-duplication
 * by seq. rsyslog tests are skipped (reported, never passed) where rsyslogd is
 * not installed (scripts/setup.sh installs it).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { FileAuditLog } from '../audit/audit-log.js';
import { makeTestCerts } from '../egress/test-certs.js';
import { systemClock } from '../keys/clock.js';
import { MemoryKeyStore } from '../keys/key-store.js';
import { freePort } from '../egress/free-port.js';
import { startAuditExport } from './audit-exporter.js';
import { readCursor } from './audit-cursor.js';
import { parseCefStrict } from '../testing/cef-strict-parser.js';

const root = mkdtempSync(join(tmpdir(), 'cordon-export-'));
after(() => rmSync(root, { recursive: true, force: true }));
const RIGHT = 'hec-token-right-0123456789';

function logWith(name: string, n: number): { dir: string; log: FileAuditLog; add: (k: number) => void } {
  const dir = join(root, name);
  const log = new FileAuditLog({ dir, productVersion: 'test' });
  let i = 0;
  const add = (k: number): void => {
    for (let j = 0; j < k; j++) log.record({ kind: 'test.event', ocsfClass: 'api_activity', activity: { id: 1, name: 'Create' }, outcome: 'success', message: `event ${++i}\nwith a newline`, sessionId: 'abcdefabcdef' });
  };
  add(n);
  return { dir, log, add };
}

async function until(pred: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (pred()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return pred();
}

function kinds(dir: string): Array<{ kind: string; details: Record<string, unknown> }> {
  return readFileSync(join(dir, 'audit.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const r = JSON.parse(l) as { cordon: Record<string, unknown> };
      return { kind: String(r.cordon['kind']), details: r.cordon };
    });
}

describe('HEC', () => {
  test('wrong token: spooled, retried, one alert and no secret in it; right token: every record delivered in order with seq and hash', async () => {
    const { dir, log, add } = logWith('hec', 20);
    const seen: Array<{ seq: number; hash: string; class_uid: number }> = [];
    let attempts = 0;
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        attempts++;
        if (req.url !== '/services/collector/event' || req.headers.authorization !== `Splunk ${RIGHT}`) {
          res.writeHead(403).end('{"text":"Invalid token","code":4}');
          return;
        }
        for (const line of body.split('\n')) seen.push((JSON.parse(line) as { event: { seq: number; hash: string; class_uid: number } }).event);
        res.writeHead(200).end('{"text":"Success","code":0}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const keys = new MemoryKeyStore(systemClock);
    await keys.set('hec-main', 'hec-token-WRONG-9876543210');
    const exp = startAuditExport({
      auditDir: dir,
      audit: log,
      destinations: [{ type: 'hec', name: 'splunk', url: `http://127.0.0.1:${port}`, tokenEntry: 'hec-main' }],
      maxBacklogRecords: 1000,
      transport: { host: 'test-host', version: 'test', keyStore: () => keys },
      pollMs: 50,
      backoffMs: 100,
      maxBackoffMs: 200,
    });
    try {
      assert.ok(await until(() => attempts >= 3, 5000), 'retried with backoff');
      assert.equal(seen.length, 0);
      assert.equal(readCursor(dir, 'splunk').seq, 0, 'nothing confirmed while refused');
      const alerts = kinds(dir).filter((k) => k.kind === 'audit.export_failed');
      assert.equal(alerts.length, 1, 'one alert per outage, not per retry');
      assert.equal(alerts[0]?.details['reason'], 'auth_rejected');
      assert.ok(!readFileSync(join(dir, 'audit.jsonl'), 'utf8').includes('WRONG'), 'the token never reaches the log');
      await keys.set('hec-main', RIGHT);
      add(5);
      assert.ok(await exp.drain(10_000), 'caught up once the token is right');
      const seqs = seen.map((e) => e.seq);
      const total = kinds(dir).length;
      assert.deepEqual([...new Set(seqs)], Array.from({ length: total }, (_, i) => i + 1).slice(0, new Set(seqs).size));
      assert.ok(seqs.length >= 25);
      assert.ok(seen.every((e) => /^[0-9a-f]{64}$/.test(e.hash) && e.class_uid > 0));
      assert.ok(kinds(dir).some((k) => k.kind === 'audit.export_recovered'));
    } finally {
      await exp.stop();
      server.close();
    }
  });
});

describe('OTLP/HTTP and the rotating file', () => {
  test('an OTLP collector stand-in receives every record once, with seq and hash attributes; a 503 is retried', async () => {
    const { dir, log } = logWith('otlp', 12);
    const seqs: number[] = [];
    let calls = 0;
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        if (++calls === 1) return void res.writeHead(503).end();
        assert.equal(req.url, '/v1/logs');
        const doc = JSON.parse(body) as { resourceLogs: Array<{ scopeLogs: Array<{ logRecords: Array<{ attributes: Array<{ key: string; value: { intValue?: string } }> }> }> }> };
        for (const r of doc.resourceLogs[0]?.scopeLogs[0]?.logRecords ?? []) seqs.push(Number(r.attributes.find((a) => a.key === 'cordon.seq')?.value.intValue));
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const exp = startAuditExport({
      auditDir: dir,
      audit: log,
      destinations: [{ type: 'otlp', name: 'otel', url: `http://127.0.0.1:${(server.address() as { port: number }).port}` }],
      maxBacklogRecords: 1000,
      transport: { host: 'h', version: 'test', keyStore: () => new MemoryKeyStore(systemClock) },
      pollMs: 50,
      backoffMs: 50,
    });
    try {
      assert.ok(await exp.drain(10_000));
      const total = kinds(dir).length;
      assert.deepEqual([...new Set(seqs)], Array.from({ length: total }, (_, i) => i + 1));
      assert.ok(calls >= 2, 'retried after the 503');
    } finally {
      await exp.stop();
      server.close();
    }
  });

  test('a file destination rotates at maxBytes and keeps every record across the rotated files; plain http to a non-loopback host is refused', async () => {
    const { dir, log, add } = logWith('file', 40);
    const path = join(root, 'siem', 'cordon.jsonl');
    const exp = startAuditExport({ auditDir: dir, audit: log, destinations: [{ type: 'file', path, maxBytes: 8192, keep: 50 }], maxBacklogRecords: 1000, transport: { host: 'h', version: 't', keyStore: () => new MemoryKeyStore(systemClock) }, pollMs: 20 });
    try {
      add(20);
      assert.ok(await exp.drain(10_000));
    } finally {
      await exp.stop();
    }
    const files = [path, ...Array.from({ length: 50 }, (_, i) => `${path}.${i + 1}`)].filter((f) => existsSync(f));
    assert.ok(files.length >= 2, 'rotated');
    const seqs = files.flatMap((f) => readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { seq: number }).seq)).sort((a, b) => a - b);
    assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1));
    assert.equal(seqs.length, kinds(dir).length);
    const { transportFor } = await import('./export-transports.js');
    const refused = await transportFor({ type: 'otlp', url: 'http://collector.example:4318' }, { host: 'h', version: 't', keyStore: () => new MemoryKeyStore(systemClock) }).send([]);
    assert.match(refused.ok ? '' : refused.why, /refusing plain http/);
  });
});

describe('one deliverer per destination', () => {
  test('a second exporter waits while the first delivers (no duplicates), and takes over from the cursor when it stops', async () => {
    const { dir, log, add } = logWith('lease', 30);
    const seqs: number[] = [];
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        const doc = JSON.parse(body) as { resourceLogs: Array<{ scopeLogs: Array<{ logRecords: Array<{ attributes: Array<{ key: string; value: { intValue?: string } }> }> }> }> };
        for (const r of doc.resourceLogs[0]?.scopeLogs[0]?.logRecords ?? []) seqs.push(Number(r.attributes.find((a) => a.key === 'cordon.seq')?.value.intValue));
        res.writeHead(200).end('{}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const dest = { type: 'otlp' as const, name: 'shared', url: `http://127.0.0.1:${(server.address() as { port: number }).port}` };
    const common = { auditDir: dir, audit: log, destinations: [dest], maxBacklogRecords: 1000, transport: { host: 'h', version: 't', keyStore: () => new MemoryKeyStore(systemClock) }, pollMs: 20, leaseRetryMs: 50 };
    const events: string[] = [];
    const first = startAuditExport(common);
    const second = startAuditExport({ ...common, onLease: (e) => events.push(`${e.state}:${e.holderPid ?? ''}`) });
    try {
      assert.deepEqual(first.serving, ['shared']);
      assert.deepEqual(second.serving, [], 'the lease is taken');
      assert.deepEqual(events, [`waiting:${process.pid}`], 'the waiting one is told who delivers');
      assert.ok(await first.drain(5000));
      add(10);
      assert.ok(await first.drain(5000));
      assert.equal(new Set(seqs).size, seqs.length, 'two exporters, no duplicates');
      await first.stop();
      add(10);
      assert.ok(await until(() => second.serving.length === 1, 3000), 'took over once the first stopped');
      assert.ok(await second.drain(5000));
      const total = kinds(dir).length;
      assert.deepEqual(seqs, Array.from({ length: total }, (_, i) => i + 1), 'every record once, in order, across the hand-over');
      assert.deepEqual(events, [`waiting:${process.pid}`, 'serving:']);
    } finally {
      await first.stop();
      await second.stop();
      server.close();
    }
  });

  test('a lease left by a dead process, or not renewed for 30 s, is taken over; a live one is not', async () => {
    const { dir, log } = logWith('stale', 3);
    const lease = join(dir, 'export', 'f.lease');
    const path = join(root, 'stale-out.jsonl');
    const start = (): ReturnType<typeof startAuditExport> => startAuditExport({ auditDir: dir, audit: log, destinations: [{ type: 'file', name: 'f', path }], maxBacklogRecords: 1000, transport: { host: 'h', version: 't', keyStore: () => new MemoryKeyStore(systemClock) }, pollMs: 20, leaseRetryMs: 20 });
    mkdirSync(join(dir, 'export'), { recursive: true });
    const dead = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => dead.once('exit', r));
    writeFileSync(lease, `${dead.pid ?? 999999} old`);
    let exp = start();
    assert.deepEqual(exp.serving, ['f'], 'dead holder: taken over at once');
    await exp.stop();
    assert.equal(existsSync(lease), false, 'released on stop');
    // A live process (the test runner's parent, which never renews) holds it.
    const live = process.ppid;
    writeFileSync(lease, `${live} other`);
    exp = start();
    assert.deepEqual(exp.serving, [], 'a live, recently renewed holder keeps it');
    await exp.stop();
    assert.ok(existsSync(lease), 'not ours to remove');
    const old = new Date(Date.now() - 31_000);
    utimesSync(lease, old, old);
    exp = start();
    assert.deepEqual(exp.serving, ['f'], 'not renewed for 30 s: taken over');
    await exp.stop();
  });
});

describe('spool full', () => {
  test('a destination too far behind raises one spool-full alert and keeps every record for later', async () => {
    const { dir, log, add } = logWith('full', 20);
    const port = await freePort(); // nothing listens: the receiver is down
    const exp = startAuditExport({ auditDir: dir, audit: log, destinations: [{ type: 'otlp', name: 'down', url: `http://127.0.0.1:${port}` }], maxBacklogRecords: 5, transport: { host: 'h', version: 't', keyStore: () => new MemoryKeyStore(systemClock) }, pollMs: 20, backoffMs: 20, maxBackoffMs: 40 });
    try {
      assert.ok(await until(() => kinds(dir).some((k) => k.kind === 'audit.export_spool_full'), 5000));
      add(10);
      await new Promise((r) => setTimeout(r, 300));
      const full = kinds(dir).filter((k) => k.kind === 'audit.export_spool_full');
      assert.equal(full.length, 1, 'one alert, not one per retry');
      assert.ok(Number(full[0]?.details['backlog']) > 5);
      assert.equal(readCursor(dir, 'down').seq, 0, 'nothing dropped: the cursor has not moved');
    } finally {
      await exp.stop();
    }
  });
});

const RSYSLOGD = ['/usr/sbin/rsyslogd', '/sbin/rsyslogd'].find((p) => existsSync(p));

/** Debian's rsyslogd on 127.0.0.1:PORT (TLS with CERTS), writing each message as TEMPLATE to OUT. */
function rsyslogReceiver(work: string, port: number, certs: ReturnType<typeof makeTestCerts> | null, template: string): { out: string; start(): Promise<void>; stop(): Promise<void> } {
  const out = join(work, 'received.log');
  mkdirSync(work, { recursive: true });
  if (certs) {
    writeFileSync(join(work, 'key.pem'), certs.keyPem);
    writeFileSync(join(work, 'cert.pem'), certs.certPem);
  }
  const conf = join(work, 'rsyslog.conf');
  writeFileSync(
    conf,
    [
      `global(workDirectory="${work}"${certs ? ` DefaultNetstreamDriverCAFile="${certs.caFile}" DefaultNetstreamDriverCertFile="${work}/cert.pem" DefaultNetstreamDriverKeyFile="${work}/key.pem"` : ''})`,
      `module(load="imtcp"${certs ? ' StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon"' : ''})`,
      `input(type="imtcp" port="${port}" address="127.0.0.1")`,
      `template(name="raw" type="string" string="${template}\\n")`,
      `action(type="omfile" file="${out}" template="raw")`,
    ].join('\n'),
  );
  let rsyslog: ChildProcess | null = null;
  return {
    out,
    start: async () => {
      rsyslog = spawn(RSYSLOGD as string, ['-n', '-f', conf, '-i', join(work, 'pid')], { stdio: 'ignore' });
      const net = await import('node:net');
      assert.ok(
        await until(() => {
          const s = net.connect(port, '127.0.0.1');
          s.on('error', () => undefined);
          s.on('connect', () => s.destroy());
          return existsSync(join(work, 'pid'));
        }, 10_000),
      );
      await new Promise((r) => setTimeout(r, 300));
    },
    stop: async () => {
      const p = rsyslog;
      rsyslog = null;
      if (!p) return;
      await new Promise<void>((r) => {
        p.once('exit', () => r());
        p.kill('SIGTERM');
      });
      rmSync(join(work, 'pid'), { force: true });
    },
  };
}

describe('rsyslog (Debian) as a real receiver', { skip: RSYSLOGD ? false : 'rsyslogd is not installed (scripts/setup.sh installs rsyslog and rsyslog-gnutls)' }, () => {
  for (const mode of ['tcp', 'tls'] as const) {
    test(`${mode}: every record arrives in order, exactly once after de-duplication by seq, across a receiver restart`, { timeout: 60_000 }, async () => {
      const { dir, log, add } = logWith(`log-${mode}`, 50);
      const port = await freePort();
      const certs = mode === 'tls' ? makeTestCerts() : null;
      const receiver = rsyslogReceiver(join(root, `rsyslog-${mode}`), port, certs, '%structured-data%');
      const out = receiver.out;
      await receiver.start();
      const exp = startAuditExport({
        auditDir: dir,
        audit: log,
        destinations: [{ type: 'syslog', name: `rsyslog-${mode}`, url: `${mode}://127.0.0.1:${port}`, ...(certs ? { caFile: certs.caFile } : {}) }],
        maxBacklogRecords: 10_000,
        transport: { host: 'test-host', version: 'test', keyStore: () => new MemoryKeyStore(systemClock) },
        pollMs: 50,
        backoffMs: 100,
        maxBackoffMs: 400,
      });
      const received = (): number[] =>
        existsSync(out)
          ? readFileSync(out, 'utf8')
              .split('\n')
              .map((l) => Number(/seq="(\d+)"/.exec(l)?.[1] ?? NaN))
              .filter((n) => !Number.isNaN(n))
          : [];
      try {
        assert.ok(await until(() => received().length >= 50, 10_000), `first records arrive (${received().length})`);
        // The receiver goes away in the middle of the session, records keep coming, it comes back.
        await receiver.stop();
        add(30);
        await new Promise((r) => setTimeout(r, 600));
        add(20);
        await receiver.start();
        add(10);
        assert.ok(await exp.drain(20_000), 'caught up after the restart');
        await new Promise((r) => setTimeout(r, 500));
        const total = kinds(dir).length;
        const seqs = received();
        const firstSeen: number[] = [];
        const dedup = new Set<number>();
        for (const s of seqs) {
          if (dedup.has(s)) continue;
          dedup.add(s);
          firstSeen.push(s);
        }
        assert.deepEqual(firstSeen, Array.from({ length: total }, (_, i) => i + 1), `every record, in order (duplicates: ${seqs.length - firstSeen.length})`);
        assert.ok(kinds(dir).some((k) => k.kind === 'audit.export_failed'), 'the outage was alerted');
      } finally {
        await exp.stop();
        await receiver.stop();
        certs?.cleanup();
      }
    });
  }

  for (const mode of ['tcp', 'tls'] as const) {
    test(`${mode} with format cef: rsyslog receives one CEF message a record, hostile text included, and a strict reader gets the fields back`, { timeout: 60_000 }, async () => {
      const dir = join(root, `cef-${mode}`);
      const log = new FileAuditLog({ dir, productVersion: 'test' });
      const hostile = ['pipe | equals = backslash \\ end', 'crlf\r\n<13>1 - forged syslog\r\nCEF:0|Evil|x|1|1|forged|10|', 'unicode é 漢字 🔥', 'cs1=forged msg=again'];
      for (const [i, text] of hostile.entries()) log.record({ kind: 'egress.deny', ocsfClass: 'network_activity', activity: { id: 5, name: 'Refuse' }, outcome: 'failure', message: text, sessionId: `s${i}`, details: { host: `h|${i}=x`, port: 443, reason: text, decision: 'deny' } });
      const port = await freePort();
      const certs = mode === 'tls' ? makeTestCerts() : null;
      const receiver = rsyslogReceiver(join(root, `rsyslog-cef-${mode}`), port, certs, '%msg%');
      await receiver.start();
      const exp = startAuditExport({
        auditDir: dir,
        audit: log,
        destinations: [{ type: 'syslog', name: `cef-${mode}`, url: `${mode}://127.0.0.1:${port}`, format: 'cef', ...(certs ? { caFile: certs.caFile } : {}) }],
        maxBacklogRecords: 10_000,
        transport: { host: 'test-host', version: 'test', keyStore: () => new MemoryKeyStore(systemClock) },
        pollMs: 50,
      });
      const lines = (): string[] => (existsSync(receiver.out) ? readFileSync(receiver.out, 'utf8').split('\n').filter(Boolean) : []);
      try {
        assert.ok(await until(() => lines().length >= hostile.length, 10_000), `arrived: ${lines().length}`);
        await exp.drain(5000);
        const got = lines().map(parseCefStrict);
        assert.equal(got.length, hostile.length, lines().join('\n'));
        assert.deepEqual(got.map((p) => p.ext.get('cn1')), hostile.map((_, i) => String(i + 1)));
        assert.deepEqual(got.map((p) => p.ext.get('msg')), hostile);
        assert.deepEqual(got.map((p) => p.ext.get('cs3')), hostile);
        assert.deepEqual(got.map((p) => p.ext.get('dhost')), hostile.map((_, i) => `h|${i}=x`));
        assert.deepEqual(got.map((p) => p.ext.get('cs1')), hostile.map((_, i) => `s${i}`));
        const chain = readFileSync(join(dir, 'audit.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { hash: string }).hash);
        assert.deepEqual(got.map((p) => p.ext.get('cs2')), chain, 'each hash kept');
        assert.ok(got.every((p) => p.name === 'egress.deny' && p.signatureId === '400105'));
      } finally {
        await exp.stop();
        await receiver.stop();
        certs?.cleanup();
      }
    });
  }
});
