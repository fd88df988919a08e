/**
 * The wire to each SIEM (issue 20). A transport takes a batch and says
 * whether the receiver took it; it never throws. Secrets (the HEC token) are
 * fetched per attempt from the keychain and never appear in a `why`.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { dirname } from 'node:path';
import tls from 'node:tls';
import type { ExportDestination } from '../policy/policy-schema.js';
import type { KeyStore } from '../keys/key-store.js';
import { cefMessage } from './cef-format.js';
import { hecBatch, octetFrame, otlpLogs, syslogMessage, type ExportRecord } from './export-format.js';

export type SendResult = { readonly ok: true } | { readonly ok: false; readonly why: string; readonly auth?: boolean };

export interface ExportTransport {
  /**
   * Sends RECORDS in order. ok means the receiver has them: an HTTP 2xx, a
   * file append, or — syslog over TCP has no acknowledgement — bytes flushed
   * on a connection that then stays healthy (see SyslogTransport).
   */
  send(records: readonly ExportRecord[]): Promise<SendResult>;
  close(): void;
  /**
   * True when `ok` only means "written" (syslog over TCP): the exporter then
   * counts a batch as delivered once the next one was also written on a
   * healthy connection, and re-sends from there after any error.
   */
  readonly confirmsByNextWrite?: boolean;
}

export interface TransportContext {
  readonly host: string;
  readonly version: string;
  readonly keyStore: () => KeyStore;
}

export function transportFor(d: ExportDestination, ctx: TransportContext): ExportTransport {
  switch (d.type) {
    case 'syslog':
      return new SyslogTransport(d.url, d.caFile, ctx.host, d.format === 'cef' ? (r) => cefMessage(r, ctx.version) : undefined);
    case 'hec':
      return httpTransport(new URL('services/collector/event', withSlash(d.url)), d.caFile, async () => {
        const token = await ctx.keyStore().get(d.tokenEntry);
        if (!token.ok) return { ok: false, why: `HEC token entry ${d.tokenEntry}: ${token.error.message}` };
        return { ok: true, headers: { authorization: `Splunk ${token.value}`, 'content-type': 'application/json' } };
      }, (rs) => hecBatch(rs, ctx.host));
    case 'otlp':
      return httpTransport(new URL('v1/logs', withSlash(d.url)), d.caFile, () => Promise.resolve({ ok: true, headers: { 'content-type': 'application/json' } }), (rs) => otlpLogs(rs, ctx.host, ctx.version));
    case 'file':
      return new FileTransport(d.path, d.maxBytes ?? 50 * 1024 * 1024, d.keep ?? 5, d.format === 'cef' ? (r) => cefMessage(r, ctx.version) : (r) => r.line);
  }
}

function withSlash(u: string): string {
  return u.endsWith('/') ? u : `${u}/`;
}

type Headers = { ok: true; headers: Record<string, string> } | { ok: false; why: string };

function httpTransport(url: URL, caFile: string | undefined, headers: () => Promise<Headers>, body: (rs: readonly ExportRecord[]) => string): ExportTransport {
  const ca = caFile ? [...tls.rootCertificates, readFileSync(caFile, 'utf8')] : undefined;
  return {
    send: async (records) => {
      // Plain http only to loopback: records are evidence and the HEC token a credential.
      if (url.protocol === 'http:' && !isLoopback(url.hostname)) return { ok: false, why: `refusing plain http to ${url.host}; use https` };
      const h = await headers();
      if (!h.ok) return { ok: false, why: h.why, auth: true };
      const data = Buffer.from(body(records), 'utf8');
      return new Promise<SendResult>((resolve) => {
        const lib = url.protocol === 'https:' ? https : http;
        const req = lib.request(url, { method: 'POST', headers: { ...h.headers, 'content-length': String(data.length) }, timeout: 15_000, ...(ca ? { ca } : {}) }, (res) => {
          res.resume();
          res.on('end', () => {
            const s = res.statusCode ?? 0;
            if (s >= 200 && s < 300) resolve({ ok: true });
            else resolve({ ok: false, why: `${url.host} answered ${s}`, auth: s === 401 || s === 403 });
          });
        });
        req.on('timeout', () => req.destroy(new Error('timed out')));
        req.on('error', (e) => resolve({ ok: false, why: `${url.host}: ${e.message}` }));
        req.end(data);
      });
    },
    close: () => undefined,
  };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || host === '::1' || /^127\./.test(host);
}

/**
 * syslog over TCP or TLS with octet counting. TCP gives no acknowledgement:
 * bytes written before a receiver dies can be lost in its buffers. So this
 * transport sets confirmsByNextWrite (the exporter re-sends the last batch
 * after any error), and waits 50 ms after each write for a dying receiver's
 * reset before answering (duplicates, by seq, are the receiver's to drop).
 */
class SyslogTransport implements ExportTransport {
  readonly confirmsByNextWrite = true;
  private sock: net.Socket | null = null;
  private broken: string | null = null;
  private readonly target: URL;

  constructor(
    url: string,
    private readonly caFile: string | undefined,
    private readonly host: string,
    /** The MSG of each message; absent, the record's JSON line. */
    private readonly body?: (r: ExportRecord) => string,
  ) {
    this.target = new URL(url.replace(/^(tcp|tls):/, 'http:'));
    this.tls = url.startsWith('tls:');
  }

  private readonly tls: boolean;

  private connect(): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const port = Number(this.target.port);
      const hostname = this.target.hostname;
      const s = this.tls
        ? tls.connect({ host: hostname, port, servername: net.isIP(hostname) ? undefined : hostname, ...(this.caFile ? { ca: [...tls.rootCertificates, readFileSync(this.caFile, 'utf8')] } : {}) })
        : net.connect({ host: hostname, port });
      s.setTimeout(15_000, () => s.destroy(new Error('timed out')));
      s.once(this.tls ? 'secureConnect' : 'connect', () => {
        s.setTimeout(0);
        s.removeAllListeners('error');
        s.on('error', (e: Error) => {
          this.broken = e.message;
        });
        s.on('close', () => {
          this.broken ??= 'the receiver closed the connection';
          if (this.sock === s) this.sock = null;
        });
        // The receiver never talks back in syslog; anything it sends is read and dropped.
        s.on('data', () => undefined);
        resolve(s);
      });
      s.once('error', reject);
    });
  }

  async send(records: readonly ExportRecord[]): Promise<SendResult> {
    try {
      if (!this.sock) {
        this.broken = null;
        this.sock = await this.connect();
      }
      const sock = this.sock;
      const data = Buffer.concat(records.map((r) => octetFrame(syslogMessage(r, this.host, this.body?.(r)))));
      await new Promise<void>((resolve, reject) => sock.write(data, (e) => (e ? reject(e) : resolve())));
      // Give a dying receiver's RST a moment to arrive before calling the batch delivered.
      await new Promise((r) => setTimeout(r, 50));
      if (this.broken !== null || sock.destroyed) throw new Error(this.broken ?? 'connection lost');
      return { ok: true };
    } catch (e) {
      this.sock?.destroy();
      this.sock = null;
      return { ok: false, why: `syslog ${this.target.host}: ${(e as Error).message}` };
    }
  }

  close(): void {
    this.sock?.end();
    this.sock = null;
  }
}

/** Appends one line a record (JSON or CEF, neither holds a raw newline); rotates PATH → PATH.1 → … PATH.KEEP when it would pass MAXBYTES. */
class FileTransport implements ExportTransport {
  constructor(
    private readonly path: string,
    private readonly maxBytes: number,
    private readonly keep: number,
    private readonly line: (r: ExportRecord) => string,
  ) {}

  send(records: readonly ExportRecord[]): Promise<SendResult> {
    try {
      mkdirSync(dirname(this.path), { recursive: true });
      const data = records.map((r) => `${this.line(r)}\n`).join('');
      const size = existsSync(this.path) ? statSync(this.path).size : 0;
      if (size > 0 && size + Buffer.byteLength(data) > this.maxBytes) this.rotate();
      appendFileSync(this.path, data, { mode: 0o600 });
      return Promise.resolve({ ok: true });
    } catch (e) {
      return Promise.resolve({ ok: false, why: `file ${this.path}: ${(e as Error).message}` });
    }
  }

  private rotate(): void {
    rmSync(`${this.path}.${this.keep}`, { force: true });
    for (let i = this.keep - 1; i >= 1; i--) if (existsSync(`${this.path}.${i}`)) renameSync(`${this.path}.${i}`, `${this.path}.${i + 1}`);
    renameSync(this.path, `${this.path}.1`);
  }

  close(): void {
    // Nothing held open.
  }
}
