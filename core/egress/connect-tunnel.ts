/**
 * CONNECT tunnels: decide the target, dial a checked address, answer 200 and
 * relay bytes in Node; a tunnel that turns out to carry bulk data moves to
 * the splice helper (see README, "Tunnel data path").
 */
import type http from 'node:http';
import type net from 'node:net';
import type { MatchedRule } from './destination-decision.js';
import { authority, denyMessage } from './deny-messages.js';
import { dial } from './destination-dial.js';
import type { TunnelSlots } from './connection-limits.js';
import { splitHostPort, type DenyReason } from './host-match.js';
import type { AddressCategory } from './ip-address.js';
import { refuseSocket } from './proxy-answers.js';
import type { RequestContext } from './request-context.js';
import type { InspectServer } from './tls-inspect.js';
import { canHandOff, stopReading, type TunnelSplicer } from './tunnel-splicer.js';

/** Tunnel bytes relayed in Node before a tunnel moves to the splice helper; see `spliceAfterBytes`. */
export const DEFAULT_SPLICE_AFTER_BYTES = 256 * 1024;

/** What a CONNECT handler uses of its proxy. */
export interface ConnectContext extends RequestContext {
  readonly tunnels: TunnelSlots;
  readonly connectTimeoutMs: number;
  /** Keeps a socket to destroy on stop. */
  readonly track: (s: net.Socket) => void;
  /** False once the proxy was stopped. */
  readonly serving: () => boolean;
  /** The running splice helper, or null. */
  readonly splicer: () => TunnelSplicer | null;
  readonly spliceAfterBytes: number;
  /** The `egress.inspect` entry naming HOST:PORT under the policy in force, or null: the tunnel stays opaque. */
  readonly inspectRule: (host: string, port: number) => string | null;
  /** Carries the tunnels of inspected hosts (tls-inspect.ts). */
  readonly inspector: () => InspectServer;
}

const ESTABLISHED = Buffer.from('HTTP/1.1 200 Connection Established\r\n\r\n', 'latin1');

/** True once the stream has seen EOF, even if its 'end' event is still pending. */
function readEnded(s: net.Socket): boolean {
  const state: unknown = (s as unknown as { _readableState?: unknown })._readableState;
  return s.readableEnded || (typeof state === 'object' && state !== null && 'ended' in state && state.ended === true);
}

export async function handleConnect(ctx: ConnectContext, req: http.IncomingMessage, client: net.Socket, head: Buffer): Promise<void> {
  const started = ctx.now();
  client.on('error', () => client.destroy());
  client.setNoDelay(true);
  const refuse = (host: string, port: number, reason: DenyReason, detail = '', address: string | null = null, category: AddressCategory | null = null, matched: MatchedRule | null = null): void => {
    const message = denyMessage(reason, authority(host, port), detail);
    ctx.audit.deny('connect', { host, port, reason, address, category, matched }, message, started);
    refuseSocket(client, reason, message);
  };
  const target = splitHostPort(req.url ?? '');
  const port = target?.port && /^\d{1,5}$/.test(target.port) ? Number(target.port) : NaN;
  if (!target || target.host === '' || !(port >= 1 && port <= 65535)) {
    refuse((req.url ?? '').slice(0, 255), 0, 'bad_target', 'CONNECT needs host:port');
    return;
  }
  if (!ctx.rate.take()) {
    refuse(target.host, port, 'rate_limited');
    return;
  }
  // Reserve the slot before any await so concurrent CONNECTs cannot overshoot the cap.
  const release = ctx.tunnels.take();
  if (!release) {
    refuse(target.host, port, 'too_many_tunnels');
    return;
  }
  try {
    const v = await ctx.destination(target.host, port, 'connect');
    if (v.kind === 'deny') {
      release();
      refuse(v.host, v.port, v.reason, v.detail, v.address, v.category, v.matched);
      return;
    }
    // Inspection only changes how an allowed tunnel is carried: the decision above was the tunnels' own.
    const inspectRule = ctx.inspectRule(v.host, port);
    if (inspectRule !== null) {
      if (client.destroyed || !ctx.serving()) {
        release();
        client.destroy();
        return;
      }
      ctx.inspector().open(client, head, v, port, inspectRule, started, release);
      return;
    }
    const up = await dial(v.route, port, ctx.connectTimeoutMs);
    if (!up.ok) {
      release();
      refuse(v.host, v.port, 'upstream_failed', up.why);
      return;
    }
    const upstream = up.socket;
    ctx.track(upstream);
    // The client gave up, or the proxy was stopped, while we were dialling.
    if (client.destroyed || !ctx.serving()) {
      upstream.destroy();
      client.destroy();
      release();
      return;
    }
    upstream.setNoDelay(true);
    upstream.on('error', () => upstream.destroy());
    // The address actually connected to (a dual-stack host may have fallen back to its second one).
    const dialled = v.route.kind === 'direct' ? (up.dialled ?? null) : null;
    const splicedDone = (bytesUp: number, bytesDown: number, extra: Record<string, unknown>): void => {
      release();
      ctx.audit.close('connect', client, v, bytesUp, bytesDown, started, { ...(dialled ? { address: dialled } : {}), ...extra });
    };
    const splicer = ctx.splicer();
    const spliceAfter = ctx.spliceAfterBytes;
    if (splicer?.available && spliceAfter <= 0 && canHandOff(client) && canHandOff(upstream)) {
      spliceTunnel(splicer, client, upstream, [ESTABLISHED, up.head], [head], splicedDone);
      return;
    }
    let closed = 0;
    const onClose = (other: net.Socket) => (hadError: boolean): void => {
      if (hadError) {
        other.destroy();
      } else if (!other.destroyed) {
        // Let the other side flush what it still buffers, but do not let a
        // peer that never closes hold the tunnel slot forever.
        other.end();
        setTimeout(() => other.destroy(), 10_000).unref();
      }
      if (++closed === 2) {
        release();
        // The address actually dialled (a dual-stack host may have fallen back to its second address).
        ctx.audit.close('connect', client, v, upstream.bytesWritten, upstream.bytesRead, started, { ...(dialled ? { address: dialled } : {}), dataPath: 'node' });
      }
    };
    // The server finished sending: the client gets the same grace as after a close.
    upstream.once('end', () => {
      setTimeout(() => {
        client.destroy();
        upstream.destroy();
      }, 10_000).unref();
    });
    const onClientClose = onClose(upstream);
    const onUpstreamClose = onClose(client);
    client.once('close', onClientClose);
    upstream.once('close', onUpstreamClose);
    client.write(ESTABLISHED);
    if (up.head.length > 0) client.write(up.head);
    if (head.length > 0) upstream.write(head);
    client.pipe(upstream);
    upstream.pipe(client);
    upstream.resume();
    if (!splicer?.available) return;
    // Node relays the first bytes; a tunnel that turns out to carry bulk data
    // moves to the splice helper. A short tunnel (a TLS handshake and one
    // request) then never waits on the handoff's cross-process round trips.
    let seen = 0;
    const watch = (c: Buffer): void => {
      seen += c.length;
      if (seen < spliceAfter) return;
      client.removeListener('data', watch);
      upstream.removeListener('data', watch);
      // A side that already ended or closed stays with Node, which handles its close.
      if (closed > 0 || client.destroyed || upstream.destroyed || !splicer.available) return;
      if (readEnded(client) || readEnded(upstream) || client.writableEnded || upstream.writableEnded) return;
      if (!canHandOff(client) || !canHandOff(upstream)) return;
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
      client.removeListener('close', onClientClose);
      upstream.removeListener('close', onUpstreamClose);
      // Out of the 'data' dispatch before reading the sockets' buffers; nothing
      // is read from the kernel before a next tick runs.
      process.nextTick(() => spliceTunnel(splicer, client, upstream, [], [], splicedDone));
    };
    client.on('data', watch);
    upstream.on('data', watch);
  } catch {
    release();
    client.destroy();
  }
}

/**
 * Hands both sockets of a tunnel to the splice helper. What Node still
 * owes each side (`toClient`/`toUpstream`: the 200 answer, the CONNECT's
 * `head`, the upstream proxy's extra bytes; then anything in either
 * socket's read buffer, and writes still queued) is written first,
 * and the handoff waits until they are flushed: a write still queued in Node
 * when the descriptor leaves would be lost. `done` runs once, with the bytes
 * written each way.
 */
function spliceTunnel(splicer: TunnelSplicer, client: net.Socket, upstream: net.Socket, toClient: readonly Buffer[], toUpstream: readonly Buffer[], done: (bytesUp: number, bytesDown: number, extra: Record<string, unknown>) => void): void {
  const fromClient = stopReading(client);
  const fromUpstream = stopReading(upstream);
  const giveUp = (): void => {
    client.destroy();
    upstream.destroy();
    done(upstream.bytesWritten, upstream.bytesRead, { dataPath: 'node' });
  };
  if (!fromClient || !fromUpstream) {
    giveUp();
    return;
  }
  const pending: Promise<void>[] = [];
  const writeAll = (s: net.Socket, chunks: readonly Buffer[]): void => {
    for (const c of chunks) if (c.length > 0) s.write(c);
    // Writes the kernel took at once have already left Node's queue; for the
    // rest, an empty write's callback runs once everything before it is out.
    if (s.writableLength > 0) pending.push(new Promise((resolve) => s.write(Buffer.alloc(0), () => resolve())));
  };
  writeAll(client, [...toClient, ...fromUpstream]);
  writeAll(upstream, [...toUpstream, ...fromClient]);
  const handOff = (): void => {
    if (client.destroyed || upstream.destroyed || !splicer.available) {
      giveUp();
      return;
    }
    // Node's share of the counts; the helper reports the rest.
    const up = upstream.bytesWritten;
    const down = upstream.bytesRead;
    splicer.handOff(client, upstream, (end) => done(up + end.up, down + end.down, end.complete ? { dataPath: 'splice' } : { dataPath: 'splice', bytesComplete: false }));
  };
  // Usually every write went straight to the kernel: hand over in this tick, adding no latency.
  if (pending.length === 0) handOff();
  else void Promise.all(pending).then(handOff);
}
