/**
 * Egress proxy benchmark (issue 3, "Benchmark"): loopback only, direct and
 * through Cordon in the same run.
 *
 *   npm run bench:proxy              full counts
 *   node dist/bench/proxy-bench.js --quick   smaller counts for a smoke run
 *   --no-relay   clients go straight to the proxy socket
 *   --no-splice  tunnel bytes relayed in Node only (no cordon-splice, no baseline proxy)
 *   --no-shim    leave out the connect shim's path (otherwise the benchmark
 *                runs itself again with the shim preloaded to measure it)
 *   --splice-now hand every tunnel to cordon-splice as soon as it is established
 *                (spliceAfterBytes 0), to see the handoff's own cost in (a) and (d)
 *
 * Tunnel bytes are spliced host-side by cordon-splice when it builds; a second
 * proxy relaying them in Node is measured in the same run as the baseline
 * ("node (base)"), so the two data paths are compared under the same load.
 *
 * Three processes so the proxy does not share an event loop with the load:
 * this one (clients), a servers child (HTTPS target, download server, fake
 * model provider) and a proxy child (EgressProxy on a Unix socket). When gcc
 * is available the clients also go the ways an agent's connections really
 * take, through the in-sandbox relay's loopback port, on two relays run as a
 * session runs them:
 *   runc:   `--splice both --handoff`: the relay hands its listening socket to
 *           the proxy, which then accepts the clients' connections itself;
 *   gVisor: `--splice up`, no handoff: every connection goes through the
 *           relay's hop to the proxy socket.
 * (Both relays run on the host here; the runtime only decides which of these
 * a session uses.) The proxy socket alone and a Node-only baseline proxy are
 * measured in the same run.
 *
 * Figures: (a) p50/p99 of HTTPS requests each on a new CONNECT tunnel, (b)
 * p50/p99 of keep-alive requests through the model route, (c) throughput of a
 * download through a tunnel, (d) proxy RSS holding idle tunnels. In (c) the
 * ratio is the median of per-round ratios, each against the direct download of
 * the same round, so drift in the machine's speed between rounds cancels; the
 * machine-wide CPU time per GiB of each path is printed beside it (/proc/stat).
 * Targets: added p50 <= 0.5 ms in (a) and (b); tunnel throughput >= 85% of
 * direct; RSS <= 150 MB in (d). Bounded: the run aborts after 4 minutes.
 */
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import type { AuditEventInput, AuditSink } from '../core/audit/audit-event.js';
import { ConnectionGate } from '../core/egress/connection-gate.js';
import { compileEgressPolicy, modelRoutesOf } from '../core/egress/egress-policy.js';
import { EgressProxy } from '../core/egress/egress-proxy.js';
import { freePort } from '../core/egress/free-port.js';
import { makeTestCerts } from '../core/egress/test-certs.js';
import { ensureSpliceHelper } from '../core/egress/tunnel-splicer.js';
import { ensureConnectShim, SHIM_SOCKET_NAME } from '../core/session/session-egress.js';
import { inspectBench } from './inspect-bench.js';

const HOST = 'bench.test';
/**
 * The fake provider's host. Not HOST: a provider's host is a model vendor's,
 * which the proxy refuses for CONNECT (`model_route_only`), and the tunnels
 * go to HOST.
 */
const MODEL_HOST = 'model.bench.test';
const self = fileURLToPath(import.meta.url);

interface ServerPorts {
  https: number;
  download: number;
  provider: number;
}

interface ServersInit {
  role: 'servers';
  keyPem: string;
  certPem: string;
  downloadBytes: number;
}

interface ProxyInit {
  role: 'proxy';
  socketPath: string;
  ports: ServerPorts;
  caFile: string;
  maxTunnels: number;
  /** Built cordon-splice, or null for the Node data path. */
  spliceHelper: string | null;
  /** spliceAfterBytes for the proxy; null = the default. */
  spliceAfterBytes: number | null;
  /** Handoff socket for the runc-style relay, and the port its listener must be on; null = none. */
  handoff: { path: string; port: number } | null;
  /** Socket for clients that load the connect shim; null = none. */
  shim: string | null;
}

type ChildMessage = { type: 'ready'; ports?: ServerPorts; dataPath?: 'splice' | 'node' } | { type: 'rss'; rss: number; helperRss: number; tunnels: number; clientPath: string; byPath: Record<string, number> };

/** Resident set of another process in bytes (Linux /proc), 0 when unknown. */
/** Machine-wide CPU time from /proc/stat, in clock ticks: busy (not idle, iowait or steal), idle, steal. */
interface CpuTicks {
  busy: number;
  idle: number;
  steal: number;
}
function machineTicks(): CpuTicks {
  const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
  return { busy: user + nice + system + irq + softirq, idle: idle + iowait, steal };
}

function rssOf(pid: number | null): number {
  if (!pid) return 0;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

// ---- child roles ----------------------------------------------------------

async function runServers(init: ServersInit): Promise<void> {
  const chunk = Buffer.alloc(1024 * 1024, 0x61);
  const hs = https.createServer({ key: init.keyPem, cert: init.certPem }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2, connection: 'close' });
    res.end('ok');
  });
  hs.keepAliveTimeout = 60_000;
  const dl = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': init.downloadBytes, connection: 'close' });
    let left = init.downloadBytes;
    const pump = (): void => {
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        left -= n;
        if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    pump();
  });
  const provider = https.createServer({ key: init.keyPem, cert: init.certPem }, (req, res) => {
    req.resume();
    req.on('end', () => {
      const body = '{"id":"msg_bench","type":"message","content":[{"type":"text","text":"hi"}]}';
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  provider.keepAliveTimeout = 60_000;
  const listen = (s: net.Server): Promise<number> => new Promise((r) => s.listen(0, '127.0.0.1', () => r((s.address() as net.AddressInfo).port)));
  const ports = { https: await listen(hs), download: await listen(dl), provider: await listen(provider) };
  process.send?.({ type: 'ready', ports } satisfies ChildMessage);
}

/** Counts events instead of keeping them, so the benchmark measures the proxy, not a growing array. */
class CountingSink implements AuditSink {
  count = 0;
  /** Closed connections by the way they reached the proxy (audit `clientPath`). */
  readonly byPath: Record<string, number> = {};
  record(event: AuditEventInput): void {
    this.count++;
    const via = event.details?.['clientPath'];
    if (typeof via === 'string') this.byPath[via] = (this.byPath[via] ?? 0) + 1;
  }
}

async function runProxy(init: ProxyInit): Promise<void> {
  const r = compileEgressPolicy({
    allow: [`${HOST}:${init.ports.https}`, `${HOST}:${init.ports.download}`],
    allowRanges: ['127.0.0.0/8'],
    resolve: { [HOST]: '127.0.0.1', [MODEL_HOST]: '127.0.0.1' },
  });
  if (!r.ok) throw new Error(r.errors.join('; '));
  const sink = new CountingSink();
  const proxy = new EgressProxy({
    socketPath: init.socketPath,
    policy: r.policy,
    modelRoutes: modelRoutesOf({ bench: { baseUrl: `https://${MODEL_HOST}:${init.ports.provider}`, caFile: init.caFile } }),
    audit: sink,
    limits: { maxConcurrentTunnels: init.maxTunnels, requestsPerSecond: 1e6, requestBurst: 1e6, maxClientConnections: init.maxTunnels * 2 + 100 },
    spliceHelper: init.spliceHelper,
    notice: (m) => process.stderr.write(`cordon: egress: ${m}\n`),
    ...(init.spliceAfterBytes === null ? {} : { spliceAfterBytes: init.spliceAfterBytes }),
    ...(init.handoff ? { handoff: { gate: await ConnectionGate.listen(init.handoff.path, { mode: 0o600, pauseOnConnect: true }), port: init.handoff.port } } : {}),
    ...(init.shim ? { shim: await ConnectionGate.listen(init.shim, { mode: 0o600 }) } : {}),
  });
  await proxy.start();
  process.on('message', (m: unknown) => {
    if (m === 'rss') process.send?.({ type: 'rss', rss: process.memoryUsage().rss, helperRss: rssOf(proxy.spliceHelperPid), tunnels: proxy.openTunnels, clientPath: proxy.clientPath, byPath: { ...sink.byPath } } satisfies ChildMessage);
  });
  process.send?.({ type: 'ready', dataPath: proxy.tunnelDataPath } satisfies ChildMessage);
}

// ---- client helpers -------------------------------------------------------

/** How clients reach Cordon: the relay's TCP port, or the proxy socket directly. */
type Entry = { kind: 'tcp'; port: number } | { kind: 'unix'; path: string };

function dialEntry(entry: Entry): net.Socket {
  const s = entry.kind === 'tcp' ? net.connect(entry.port, '127.0.0.1') : net.connect(entry.path);
  s.setNoDelay(true);
  return s;
}

/** Opens a CONNECT tunnel and resolves once the proxy said 200. */
function openTunnel(entry: Entry, authority: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = dialEntry(entry);
    let buf = '';
    const onData = (c: Buffer): void => {
      buf += c.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      s.removeListener('data', onData);
      if (!buf.startsWith('HTTP/1.1 200')) {
        s.destroy();
        reject(new Error(`tunnel refused: ${buf.split('\r\n')[0] ?? ''}`));
        return;
      }
      resolve(s);
    };
    s.on('data', onData);
    s.once('error', reject);
    s.once('connect', () => s.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`));
  });
}

/** One HTTPS request with Connection: close over `raw` (or a fresh TCP connection); resolves when the server closed. */
function httpsOnce(ca: string, port: number, raw: net.Socket | null): Promise<void> {
  return new Promise((resolve, reject) => {
    const opts: tls.ConnectionOptions = raw ? { socket: raw, servername: HOST, ca } : { host: '127.0.0.1', port, servername: HOST, ca };
    const t = tls.connect(opts, () => t.write(`GET / HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`));
    let got = '';
    t.on('data', (c: Buffer) => (got += c.toString('latin1')));
    t.once('end', () => {
      t.destroy();
      if (got.startsWith('HTTP/1.1 200')) resolve();
      else reject(new Error('bad HTTPS reply'));
    });
    t.once('error', reject);
  });
}

function percentile(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? NaN;
}

/**
 * Times `n` calls of each function, interleaved (one call of each per round,
 * the order rotating), so load from other work on the machine falls on every
 * path alike instead of on whichever ran during a busy minute.
 */
async function timeInterleaved(n: number, fns: readonly (() => Promise<void>)[]): Promise<{ p50: number; p99: number }[]> {
  for (let i = 0; i < Math.min(50, n); i++) for (const fn of fns) await fn(); // warm-up: JIT, TLS session setup, pools
  const samples: number[][] = fns.map(() => []);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < fns.length; k++) {
      const j = (i + k) % fns.length;
      const t0 = process.hrtime.bigint();
      await fns[j]?.();
      samples[j]?.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }
  return samples.map((xs) => {
    xs.sort((a, b) => a - b);
    return { p50: percentile(xs, 50), p99: percentile(xs, 99) };
  });
}

/** Reads a whole HTTP response from a raw socket, returns body-ish byte count and seconds. */
function download(s: net.Socket, authority: string): Promise<{ bytes: number; seconds: number }> {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    const t0 = process.hrtime.bigint();
    s.on('data', (c: Buffer) => (bytes += c.length));
    s.once('end', () => {
      s.destroy();
      resolve({ bytes, seconds: Number(process.hrtime.bigint() - t0) / 1e9 });
    });
    s.once('error', reject);
    s.write(`GET /download HTTP/1.1\r\nHost: ${authority}\r\nConnection: close\r\n\r\n`);
  });
}

function keepAliveRequest(agent: http.Agent | https.Agent, secure: boolean, opts: https.RequestOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const body = '{"model":"bench","messages":[{"role":"user","content":"hi"}],"max_tokens":8}';
    const req = (secure ? https : http).request({ ...opts, agent, method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': 'phantom', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.once('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
    });
    req.once('error', reject);
    req.end(body);
  });
}

function waitReady(child: ChildProcess): Promise<ChildMessage> {
  return new Promise((resolve, reject) => {
    child.once('message', (m: unknown) => resolve(m as ChildMessage));
    child.once('exit', (code) => reject(new Error(`child exited early (${code})`)));
  });
}

const fmt = (x: number): string => x.toFixed(3);

/** Set in the copy of this process that runs under the connect shim. */
const SHIMMED_MARK = 'CORDON_BENCH_SHIMMED';

/**
 * Runs this benchmark again as a child that preloads the connect shim, as a
 * sandbox's dynamically linked programs do, so its clients can take that path
 * too: the shim sends connect() to 127.0.0.1:PORT to the proxy's shim socket.
 * Returns the child's exit code, or a reason the shim cannot be measured.
 */
async function relaunchWithShim(): Promise<{ code: number } | { skipped: string }> {
  const scratch = mkdtempSync(join(tmpdir(), 'cordon-bench-shim-'));
  try {
    const built = ensureConnectShim(join(scratch, 'cache'));
    if (!built.ok) return { skipped: built.message };
    const env = { ...process.env, [SHIMMED_MARK]: '1', LD_PRELOAD: built.path, CORDON_EGRESS_PORT: String(await freePort()), CORDON_EGRESS_SOCKET: join(scratch, SHIM_SOCKET_NAME) };
    const child = spawn(process.execPath, [...process.execArgv, self, ...process.argv.slice(2)], { stdio: 'inherit', env });
    const code = await new Promise<number>((resolve) => child.once('exit', (c) => resolve(c ?? 1)));
    return { code };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  let shimNote = '--no-shim';
  if (process.env[SHIMMED_MARK] !== '1' && !process.argv.includes('--no-shim')) {
    const r = await relaunchWithShim();
    if ('code' in r) process.exit(r.code);
    shimNote = r.skipped;
  }
  // In the relaunched copy: where the shim sends its connections. Children never load it.
  const shimmed = process.env[SHIMMED_MARK] === '1' ? { port: Number(process.env['CORDON_EGRESS_PORT']), socket: process.env['CORDON_EGRESS_SOCKET'] ?? '' } : null;
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['LD_PRELOAD', 'CORDON_EGRESS_PORT', 'CORDON_EGRESS_SOCKET', SHIMMED_MARK]) delete childEnv[k];
  const quick = process.argv.includes('--quick');
  const counts = quick
    ? { tunnelRequests: 200, modelRequests: 200, downloadMb: 20, idleTunnels: 200 }
    : { tunnelRequests: 2000, modelRequests: 2000, downloadMb: 200, idleTunnels: 1000 };
  const guard = setTimeout(() => {
    console.error('proxy-bench: aborted after 7 minutes');
    process.exit(1);
  }, 420_000);
  guard.unref();

  const dir = mkdtempSync(join(tmpdir(), 'cordon-bench-'));
  const certs = makeTestCerts([HOST, MODEL_HOST]);
  const children: ChildProcess[] = [];
  try {
    console.log(`proxy-bench: node ${process.version}, loopback only, ${quick ? 'quick' : 'full'} counts: ${JSON.stringify(counts)}`);
    const servers = fork(self, ['--role', 'servers'], { stdio: 'inherit', env: childEnv });
    children.push(servers);
    servers.send({ role: 'servers', keyPem: certs.keyPem, certPem: certs.certPem, downloadBytes: counts.downloadMb * 1024 * 1024 } satisfies ServersInit);
    const ready = await waitReady(servers);
    if (ready.type !== 'ready' || !ready.ports) throw new Error('servers did not start');
    const ports = ready.ports;

    // Two proxies: the one under test (tunnel bytes spliced by cordon-splice,
    // unless --no-splice or it cannot be built) and, as the baseline measured
    // in the same run, one relaying tunnel bytes in Node.
    const wantSplice = !process.argv.includes('--no-splice');
    const helper = wantSplice ? ensureSpliceHelper(join(dir, 'cache')) : ({ ok: false, message: '--no-splice' } as const);
    if (!helper.ok) console.log(`tunnel splicer not used: ${helper.message}`);
    // BENCH_PROXY_PROF=<dir> writes a CPU profile of the proxy process there.
    const profDir = process.env['BENCH_PROXY_PROF'];
    const startProxy = async (socketPath: string, spliceHelper: string | null, handoff: ProxyInit['handoff'] = null, shim: string | null = null): Promise<{ child: ChildProcess; dataPath: string }> => {
      const child = fork(self, ['--role', 'proxy'], { stdio: 'inherit', env: childEnv, execArgv: profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [] });
      children.push(child);
      const spliceAfterBytes = spliceHelper && process.argv.includes('--splice-now') ? 0 : null;
      child.send({ role: 'proxy', socketPath, ports, caFile: certs.caFile, maxTunnels: counts.idleTunnels + 100, spliceHelper, spliceAfterBytes, handoff, shim } satisfies ProxyInit);
      const r = await waitReady(child);
      return { child, dataPath: r.type === 'ready' ? (r.dataPath ?? '?') : '?' };
    };
    const socketPath = join(dir, 'proxy.sock');
    const handoffPath = join(dir, 'handoff.sock');
    const runcPort = await freePort();
    const main = await startProxy(socketPath, helper.ok ? helper.path : null, helper.ok ? { path: handoffPath, port: runcPort } : null, shimmed?.socket ?? null);
    const proxyChild = main.child;
    const baseSocket = join(dir, 'proxy-node.sock');
    const base = helper.ok ? await startProxy(baseSocket, null) : null;
    const when = process.argv.includes('--splice-now') ? 'as soon as established' : 'after the default byte threshold';
    console.log(`tunnel data path: ${main.dataPath}${main.dataPath === 'splice' ? ` (handed over ${when})` : ''}${base ? `; baseline proxy: ${base.dataPath}` : ''}`);

    // The relays are the paths an agent takes; without gcc, only the socket is measured.
    const relays: ChildProcess[] = [];
    type Path = { label: string; entry: Entry };
    const paths: Path[] = [];
    // The paths an agent takes, for the closing summary.
    let runcPath: Path | null = null;
    let shimPath: Path | null = null;
    const tag = main.dataPath;
    const relayBin = join(dir, 'cordon-relay');
    const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
    const build = spawnSync('sh', [join(repoRoot, 'sandbox-profiles/relay/build.sh'), relayBin], { encoding: 'utf8' });
    const waitListening = async (port: number): Promise<void> => {
      for (let i = 0; i < 100; i++) {
        const ok = await new Promise<boolean>((r) => {
          const s = net.connect(port, '127.0.0.1', () => (s.destroy(), r(true)));
          s.once('error', () => r(false));
        });
        if (ok) return;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error(`relay never listened on ${port}`);
    };
    const askProxy = (child: ChildProcess): Promise<{ rss: number; helperRss: number; tunnels: number; clientPath: string; byPath: Record<string, number> }> =>
      new Promise((resolve) => {
        child.once('message', (m: unknown) => {
          const msg = m as ChildMessage;
          resolve(msg.type === 'rss' ? msg : { rss: NaN, helperRss: NaN, tunnels: 0, clientPath: '?', byPath: {} });
        });
        child.send('rss');
      });
    if (build.status === 0 && !process.argv.includes('--no-relay')) {
      const startRelay = async (port: number, args: string[]): Promise<void> => {
        const relay = spawn(relayBin, ['--listen', `127.0.0.1:${port}`, '--to', socketPath, ...args], { stdio: 'inherit', env: childEnv });
        children.push(relay);
        relays.push(relay);
        await waitListening(port);
      };
      if (helper.ok) {
        await startRelay(runcPort, ['--splice', 'both', '--handoff', handoffPath]);
        let handed = false;
        for (let i = 0; i < 200 && !handed; i++) {
          handed = (await askProxy(proxyChild)).clientPath === 'listener';
          if (!handed) await new Promise((r) => setTimeout(r, 10));
        }
        runcPath = { label: `runc: listener handed over`, entry: { kind: 'tcp', port: runcPort } };
      paths.push(runcPath);
        console.log(`path as under runc:   client -> 127.0.0.1:${runcPort} -> EgressProxy -> server (relay's listener ${handed ? 'handed over to the proxy' : 'NOT handed over: the relay carries it'})`);
      }
      const gvisorPort = await freePort();
      await startRelay(gvisorPort, ['--splice', 'up']);
      paths.push({ label: `gVisor: relay hop`, entry: { kind: 'tcp', port: gvisorPort } });
      console.log(`path as under gVisor: client -> cordon-relay 127.0.0.1:${gvisorPort} -> ${socketPath} -> EgressProxy -> server`);
    } else {
      console.log(`relay not measured: ${build.status === 0 ? '--no-relay' : build.stderr.trim()}`);
    }
    if (shimmed) {
      // Nothing listens on this port: only the shim makes these connections work.
      shimPath = { label: 'connect shim (either)', entry: { kind: 'tcp', port: shimmed.port } };
      paths.push(shimPath);
      console.log(`path with the connect shim (runc or gVisor, dynamically linked client): connect(127.0.0.1:${shimmed.port}) -> ${shimmed.socket} -> EgressProxy -> server`);
    } else {
      console.log(`connect shim not measured: ${shimNote}`);
    }
    paths.push({ label: `cordon proxy socket ${tag}`, entry: { kind: 'unix', path: socketPath } });
    if (base) paths.push({ label: 'cordon proxy node (base)', entry: { kind: 'unix', path: baseSocket } });
    const pad = (x: string): string => x.padEnd(28);
    /** Per path: added p50 in (a) and (b), the throughput ratio in (c). */
    const summary = new Map<string, { a?: number; b?: number; c?: number }>();
    let provenRss = NaN;

    // (a) HTTPS, one new tunnel per request.
    const httpsAuthority = `${HOST}:${ports.https}`;
    const aAll = await timeInterleaved(counts.tunnelRequests, [
      () => httpsOnce(certs.caPem, ports.https, null),
      ...paths.map((p) => async () => httpsOnce(certs.caPem, ports.https, await openTunnel(p.entry, httpsAuthority))),
    ]);
    const aDirect = aAll[0] ?? { p50: NaN, p99: NaN };
    console.log(`\n(a) ${counts.tunnelRequests} HTTPS requests, each on a new TCP connection / new CONNECT tunnel (ms), paths interleaved`);
    console.log(`    ${pad('direct')} p50 ${fmt(aDirect.p50)}  p99 ${fmt(aDirect.p99)}`);
    paths.forEach((p, i) => {
      const a = aAll[i + 1] ?? { p50: NaN, p99: NaN };
      const added = a.p50 - aDirect.p50;
      summary.set(p.label, { ...(summary.get(p.label) ?? {}), a: added });
      console.log(`    ${pad(p.label)} p50 ${fmt(a.p50)}  p99 ${fmt(a.p99)}  added p50 ${fmt(added)} (target <= 0.5: ${added <= 0.5 ? 'MET' : 'MISSED'})  ratio p50 ${fmt(a.p50 / aDirect.p50)} p99 ${fmt(a.p99 / aDirect.p99)}`);
    });

    // (b) keep-alive requests through the model route.
    const directAgent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: certs.caPem });
    const modelAgents = paths.map(() => new http.Agent({ keepAlive: true, maxSockets: 1 }));
    const bAll = await timeInterleaved(counts.modelRequests, [
      () => keepAliveRequest(directAgent, true, { host: '127.0.0.1', port: ports.provider, servername: HOST, path: '/v1/messages', headers: { host: HOST } }),
      ...paths.map((p, i) => {
        const modelTarget: http.RequestOptions = p.entry.kind === 'tcp' ? { host: '127.0.0.1', port: p.entry.port } : { socketPath: p.entry.path };
        const agent = modelAgents[i] ?? new http.Agent({ keepAlive: true, maxSockets: 1 });
        return () => keepAliveRequest(agent, false, { ...modelTarget, path: '/model/bench/v1/messages' });
      }),
    ]);
    directAgent.destroy();
    for (const a of modelAgents) a.destroy();
    const bDirect = bAll[0] ?? { p50: NaN, p99: NaN };
    console.log(`\n(b) ${counts.modelRequests} keep-alive POSTs to the model API (ms), paths interleaved; direct = HTTPS keep-alive to the provider, cordon = HTTP keep-alive to the model route`);
    console.log(`    ${pad('direct')} p50 ${fmt(bDirect.p50)}  p99 ${fmt(bDirect.p99)}`);
    paths.forEach((p, i) => {
      const b = bAll[i + 1] ?? { p50: NaN, p99: NaN };
      const added = b.p50 - bDirect.p50;
      summary.set(p.label, { ...(summary.get(p.label) ?? {}), b: added });
      console.log(`    ${pad(p.label)} p50 ${fmt(b.p50)}  p99 ${fmt(b.p99)}  added p50 ${fmt(added)} (target <= 0.5: ${added <= 0.5 ? 'MET' : 'MISSED'})  ratio p50 ${fmt(b.p50 / bDirect.p50)} p99 ${fmt(b.p99 / bDirect.p99)}`);
    });

    // (c) download throughput through a tunnel; median of 15 interleaved rounds (this machine's speed swings by a third between runs).
    const dlAuthority = `${HOST}:${ports.download}`;
    const mbps = (r: { bytes: number; seconds: number }): number => r.bytes / 1024 / 1024 / r.seconds;
    const runs: (() => Promise<{ bytes: number; seconds: number }>)[] = [
      () => download(net.connect(ports.download, '127.0.0.1'), dlAuthority),
      ...paths.map((p) => async () => download(await openTunnel(p.entry, dlAuthority), dlAuthority)),
    ];
    const rounds = 15;
    const rates: number[][] = runs.map(() => []);
    // Machine-wide CPU ticks spent during each path's downloads, summed over
    // the rounds: on a machine whose cores a direct download already keeps
    // busy, a path can only be as fast as its CPU per byte allows.
    const ticks: CpuTicks[] = runs.map(() => ({ busy: 0, idle: 0, steal: 0 }));
    const bytesOf: number[] = runs.map(() => 0);
    let received = 0;
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < runs.length; k++) {
        const j = (round + k) % runs.length;
        const t0 = machineTicks();
        const r = await runs[j]?.();
        const t1 = machineTicks();
        const acc = ticks[j];
        if (acc) {
          acc.busy += t1.busy - t0.busy;
          acc.idle += t1.idle - t0.idle;
          acc.steal += t1.steal - t0.steal;
        }
        if (r) rates[j]?.push(mbps(r));
        if (r) bytesOf[j] = (bytesOf[j] ?? 0) + r.bytes;
        if (r && j === 0) received = r.bytes;
      }
    }
    const hz = 100; // USER_HZ, the unit of /proc/stat on Linux
    const cpuPerGib = (j: number): number => (ticks[j]?.busy ?? NaN) / hz / ((bytesOf[j] ?? NaN) / 1073741824);
    const cpuNote = (j: number): string => {
      const t = ticks[j] ?? { busy: 0, idle: 0, steal: 0 };
      const all = t.busy + t.idle + t.steal;
      return `CPU ${cpuPerGib(j).toFixed(2)} s/GiB, idle ${((100 * t.idle) / all).toFixed(0)}%, steal ${((100 * t.steal) / all).toFixed(0)}%`;
    };
    const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? NaN;
    const directRate = median(rates[0] ?? []);
    console.log(`\n(c) ${counts.downloadMb} MiB download over plain HTTP, ${rounds} interleaved rounds (MiB/s: median [every round]; ratio: median of each round's ratio to that round's direct)`);
    const each = (xs: number[] | undefined): string => (xs ?? []).map((x) => x.toFixed(0)).join(' ');
    console.log(`    ${pad('direct')} ${fmt(directRate)}  (${(received / 1048576).toFixed(1)} MiB received) [${each(rates[0])}]  ${cpuNote(0)}`);
    paths.forEach((p, i) => {
      const rate = median(rates[i + 1] ?? []);
      const ratio = median((rates[i + 1] ?? []).map((x, round) => x / (rates[0]?.[round] ?? NaN)));
      summary.set(p.label, { ...(summary.get(p.label) ?? {}), c: ratio });
      console.log(`    ${pad(p.label)} ${fmt(rate)}  ratio ${fmt(ratio)} (target >= 0.85: ${ratio >= 0.85 ? 'MET' : 'MISSED'}; ratio of medians ${fmt(rate / directRate)}) [${each(rates[i + 1])}]  ${cpuNote(i + 1)}, ${fmt(cpuPerGib(i + 1) / cpuPerGib(0))}x direct's CPU per byte`);
    });

    // Which way the measured connections really came (audit clientPath): the
    // shim's path must show up as "shim", the runc path as "listener".
    const byPath = (await askProxy(proxyChild)).byPath;
    console.log(`    connections the proxy under test closed, by the way they came: ${Object.entries(byPath).map(([k, v]) => `${k} ${v}`).join(', ')}`);

    // (d) RSS holding idle tunnels: the proxy, plus the splice helper when it carries them.
    const mb = (x: number): string => (x / 1024 / 1024).toFixed(1);
    const holdIdle = async (child: ChildProcess, via: Entry, label: string): Promise<void> => {
      const askRss = (): ReturnType<typeof askProxy> => askProxy(child);
      const before = await askRss();
      const idle: net.Socket[] = [];
      for (let i = 0; i < counts.idleTunnels; i += 50) {
        const batch = await Promise.all(Array.from({ length: Math.min(50, counts.idleTunnels - i) }, () => openTunnel(via, httpsAuthority)));
        idle.push(...batch);
      }
      await new Promise((r) => setTimeout(r, 500));
      const held = await askRss();
      const relayRss = via.kind === 'tcp' ? relays.map((r) => `${mb(rssOf(r.pid ?? null))} MiB`).join(' / ') : 'n/a';
      for (const s of idle) s.destroy();
      const sum = held.rss + held.helperRss;
      if (child === proxyChild) provenRss = sum;
      console.log(`    ${pad(label)} ${held.tunnels} idle tunnels: proxy before ${mb(before.rss)} MiB, holding ${mb(held.rss)} MiB; splice helper ${mb(held.helperRss)} MiB; proxy+helper ${mb(sum)} MiB (target <= 150: ${sum / 1048576 <= 150 ? 'MET' : 'MISSED'}); relays ${relayRss}`);
      await new Promise((r) => setTimeout(r, 300));
    };
    console.log(`\n(d) RSS holding ${counts.idleTunnels} idle tunnels`);
    const first = paths[0];
    if (first) await holdIdle(proxyChild, first.entry, first.label);
    if (base) await holdIdle(base.child, { kind: 'unix', path: baseSocket }, 'cordon proxy node (base)');

    // The targets on the path the agent takes: Claude Code and every other
    // dynamically linked program load the connect shim; without it (static
    // programs), runc's handed-over listener.
    const agentPath = shimPath ?? runcPath ?? paths[0];
    const got = agentPath ? summary.get(agentPath.label) : undefined;
    if (agentPath && got) {
      const verdict = (ok: boolean): string => (ok ? 'MET' : 'MISSED');
      console.log(`\nTargets on the agent's path (${agentPath.label}):`);
      console.log(`    (a) added p50 ${fmt(got.a ?? NaN)} ms (<= 0.5: ${verdict((got.a ?? NaN) <= 0.5)})  (b) added p50 ${fmt(got.b ?? NaN)} ms (<= 0.5: ${verdict((got.b ?? NaN) <= 0.5)})  (c) ratio ${fmt(got.c ?? NaN)} (>= 0.85: ${verdict((got.c ?? NaN) >= 0.85)})  (d) ${mb(provenRss)} MiB (<= 150: ${verdict(provenRss / 1048576 <= 150)})`);
    }
    // (e) The inspected path (issue 19), against an opaque tunnel measured in the same run.
    await inspectBench(quick);
  } finally {
    for (const c of children) c.kill('SIGTERM');
    certs.cleanup();
    rmSync(dir, { recursive: true, force: true });
    clearTimeout(guard);
  }
}

const roleIndex = process.argv.indexOf('--role');
if (roleIndex >= 0) {
  // Child: wait for the init message from the parent, then serve until killed.
  process.once('message', (m: unknown) => {
    const init = m as ServersInit | ProxyInit;
    const run = init.role === 'servers' ? runServers(init) : runProxy(init);
    run.catch((e: unknown) => {
      console.error(`proxy-bench ${init.role}: ${e instanceof Error ? e.message : String(e)}`);
      process.exit(1);
    });
  });
  process.once('disconnect', () => process.exit(0));
  process.once('SIGTERM', () => process.exit(0)); // exit normally so a requested CPU profile is written
} else {
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(`proxy-bench: ${e instanceof Error ? e.message : String(e)}`);
      process.exit(1);
    },
  );
}
