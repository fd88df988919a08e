/**
 * Takes Node out of the data path of established CONNECT tunnels (issue 3,
 * benchmark (c)): the proxy decides, dials and answers a tunnel, then hands
 * both sockets to `cordon-splice` (core/egress/splice/), which moves the bytes
 * socket -> pipe -> socket with splice(2) and reports the byte counts when the
 * tunnel ends. Node keeps every decision, limit and audit record.
 *
 * The handoff rides Node's own IPC channel: `child.send(msg, socket)` passes
 * the descriptor with SCM_RIGHTS. If the helper cannot be built or dies, the
 * proxy relays in Node as before (slower, same decisions).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type net from 'node:net';
import { join } from 'node:path';
import { installRoot } from '../paths/install-root.js';
import { ensureHelperBuilt, type HelperBuild } from './helper-build.js';

/** Where the helper's C source ships. */
export function spliceSourceDir(): string {
  return join(installRoot(), 'core', 'egress', 'splice');
}

/**
 * Returns the path of a built `cordon-splice`, building it into
 * `<cacheDir>/splice/` when missing (gcc, ~0.2 s, once per source version).
 * Never throws. Linux only: it needs splice(2) and epoll.
 */
export function ensureSpliceHelper(cacheDir: string, sourceDir: string = spliceSourceDir()): HelperBuild {
  if (process.platform !== 'linux') return { ok: false, message: 'the tunnel splicer needs Linux (splice, epoll)' };
  return ensureHelperBuilt({ name: 'cordon-splice', what: 'tunnel splicer', sourceDir, cacheDir: join(cacheDir, 'splice'), mode: 0o700 });
}

/** Node's native stream handle, reached through the socket's private `_handle`. */
interface NativeStreamHandle {
  reading: boolean;
  readStop(): number;
}

function nativeHandle(s: net.Socket): NativeStreamHandle | null {
  const h: unknown = (s as unknown as { _handle?: unknown })._handle;
  if (typeof h === 'object' && h !== null && 'readStop' in h && typeof h.readStop === 'function' && 'reading' in h) return h as NativeStreamHandle;
  return null;
}

/**
 * True when `s` exposes the native handle a handoff needs. Checked before a
 * tunnel leaves Node's pipes, so a Node release that reshapes these internals
 * keeps relaying in Node instead of closing tunnels at the handoff.
 */
export function canHandOff(s: net.Socket): boolean {
  return nativeHandle(s) !== null;
}

/**
 * Makes Node stop reading `s` for good and returns the bytes it had already
 * read and buffered, which the caller must forward before the handoff. After
 * this, unread bytes stay in the kernel for whoever owns the descriptor next:
 * a handed-over socket that Node still read from would lose bytes to it.
 * Null when the socket has no native handle (it is closed).
 *
 * `read()` may restart the handle's reading; the stop right after it runs in
 * the same tick, before libuv can deliver anything.
 */
export function stopReading(s: net.Socket): Buffer[] | null {
  s.pause();
  const chunks: Buffer[] = [];
  for (let c: unknown = s.read(); c !== null; c = s.read()) {
    if (Buffer.isBuffer(c)) chunks.push(c);
    else if (typeof c === 'string') chunks.push(Buffer.from(c, 'latin1'));
  }
  const h = nativeHandle(s);
  if (!h) return null;
  h.reading = false;
  return h.readStop() === 0 ? chunks : null;
}

/** What the helper reports when a tunnel ends. */
export interface SplicedTunnelEnd {
  /** Bytes the helper wrote to the upstream side. */
  readonly up: number;
  /** Bytes the helper wrote to the client side. */
  readonly down: number;
  /** False when the helper died first: the counts miss what it had moved (they are 0). */
  readonly complete: boolean;
}

interface Handoff {
  readonly client: net.Socket;
  readonly upstream: net.Socket;
  readonly onEnd: (end: SplicedTunnelEnd) => void;
}

/** How a listener handoff ended: the relay's listening socket (a native TCP handle), or why not. */
export type ListenerHandoff = { readonly ok: true; readonly handle: object } | { readonly ok: false; readonly reason: string };

/** The helper's answer to a listener offer (the handle, when there is one, comes separately). */
function isListenerAnswer(m: unknown): m is { listener: number; ok: boolean; reason?: unknown } {
  if (typeof m !== 'object' || m === null) return false;
  const r = m as Record<string, unknown>;
  return Number.isSafeInteger(r['listener']) && typeof r['ok'] === 'boolean';
}

/** A line the helper writes when a tunnel ends. */
function isTunnelReport(m: unknown): m is { tunnel: number; up: number; down: number } {
  if (typeof m !== 'object' || m === null) return false;
  const r = m as Record<string, unknown>;
  return Number.isSafeInteger(r['tunnel']) && Number.isSafeInteger(r['up']) && Number.isSafeInteger(r['down']);
}

/**
 * One long-lived `cordon-splice` child per proxy. `available` is false before
 * `start()`, once the helper exited, and after `stop()`; the proxy then relays
 * in Node. Every handed-over tunnel's `onEnd` runs exactly once: with the
 * helper's counts, or with `complete: false` when the helper died or stopped.
 */
export class TunnelSplicer {
  private child: ChildProcess | null = null;
  private alive = false;
  private nextId = 1;
  private readonly tunnels = new Map<number, Handoff>();
  private readonly listenerOffers = new Map<number, (r: ListenerHandoff) => void>();
  private closed: Promise<void> = Promise.resolve();
  private stopping = false;

  /**
   * @param binary path of a built `cordon-splice`
   * @param notice told once, in a sentence, when the helper fails and tunnels fall back to Node
   */
  constructor(
    private readonly binary: string,
    private readonly notice: (message: string) => void,
  ) {}

  /** True while new tunnels can be handed over. */
  get available(): boolean {
    return this.alive;
  }

  /** Process id of the helper while it runs (for RSS figures). */
  get pid(): number | null {
    return this.alive ? (this.child?.pid ?? null) : null;
  }

  /** Tunnels the helper currently carries (or is being handed). */
  get carried(): number {
    return this.tunnels.size;
  }

  /** Starts the helper. Spawn failures are reported through `notice` and leave `available` false. */
  start(): void {
    if (this.child) return;
    // No inherited environment: the helper needs none, and the host's may hold secrets.
    const child = spawn(this.binary, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env: {}, serialization: 'json' });
    this.child = child;
    this.alive = true;
    let reported = false;
    const died = (why: string): void => {
      this.alive = false;
      if (!reported && !this.stopping) this.notice(`the tunnel splicer ${why}; CONNECT tunnels now relay through Node (slower)`);
      reported = true;
    };
    child.on('error', (e: NodeJS.ErrnoException) => died(`could not run (${e.code ?? e.message})`));
    child.on('exit', (code, signal) => died(signal ? `was killed (${signal})` : `exited (status ${code ?? '?'})`));
    child.on('message', (m: unknown, handle: unknown) => {
      if (isListenerAnswer(m)) {
        const done = this.listenerOffers.get(m.listener);
        this.listenerOffers.delete(m.listener);
        if (m.ok && typeof handle === 'object' && handle !== null) done?.({ ok: true, handle });
        else {
          if (typeof handle === 'object' && handle !== null) (handle as { close?: () => void }).close?.();
          done?.({ ok: false, reason: typeof m.reason === 'string' ? m.reason.slice(0, 120) : 'refused' });
        }
        return;
      }
      if (!isTunnelReport(m)) return;
      const t = this.tunnels.get(m.tunnel);
      if (!t) return;
      this.tunnels.delete(m.tunnel);
      t.onEnd({ up: m.up, down: m.down, complete: true });
    });
    // 'close' comes after the last message from the channel was delivered, so
    // every report the helper managed to write has been counted by now.
    this.closed = new Promise((resolve) => {
      child.once('close', () => {
        this.alive = false;
        this.endAll();
        resolve();
      });
    });
    // The proxy's own server keeps the process alive; the helper must not.
    child.unref();
    (child.channel as { unref?: () => void } | null | undefined)?.unref?.();
  }

  /**
   * Hands an established tunnel over. The caller has stopped reading both
   * sockets ({@link stopReading}), forwarded what was buffered, and seen every
   * write flushed; it must not touch either socket afterwards. `onEnd` runs
   * once when the tunnel is over.
   */
  handOff(client: net.Socket, upstream: net.Socket, onEnd: (end: SplicedTunnelEnd) => void): void {
    const child = this.child;
    const id = this.nextId++;
    this.tunnels.set(id, { client, upstream, onEnd });
    if (!child || !this.alive) {
      this.abandon(id);
      return;
    }
    // The native handle, not the net.Socket: for a socket its server accepted,
    // Node would make the server poll the helper for "its" connections, and
    // net.Server.close() never completes once the helper is gone. The
    // descriptor travels the same way (SCM_RIGHTS) either way.
    const send = (side: 'client' | 'upstream', s: net.Socket): void => {
      const h = nativeHandle(s);
      if (!h) {
        this.abandon(id);
        return;
      }
      child.send({ tunnel: id, side }, h as unknown as net.Socket, {}, (err) => {
        if (err) this.abandon(id);
        // The message, descriptor included, is in the kernel now: the helper
        // holds its own reference, and closing Node's copy only releases this
        // process's descriptor (a close, not a shutdown; the connection stays).
        else s.destroy();
      });
    };
    // Node sends one descriptor at a time and waits for the helper's ACK
    // before the next, so the two sides arrive in this order.
    send('client', client);
    send('upstream', upstream);
  }

  /**
   * Asks the helper to read the relay's listener offer on `conn` (a connection
   * on the handoff socket that Node has never read from) and check it is a
   * listening TCP socket on 127.0.0.1:`port`. `done` runs once, with the
   * listener's native handle or the reason there is none. Node keeps `conn`
   * open (the answer to the relay goes back on it).
   */
  adoptListener(conn: net.Socket, port: number, done: (r: ListenerHandoff) => void): void {
    const child = this.child;
    const h = nativeHandle(conn);
    if (!child || !this.alive || !h) {
      done({ ok: false, reason: 'the tunnel splicer is not running' });
      return;
    }
    const id = this.nextId++;
    this.listenerOffers.set(id, done);
    child.send({ listener: id, port }, h as unknown as net.Socket, {}, (err) => {
      if (!err) return;
      this.listenerOffers.delete(id);
      done({ ok: false, reason: 'could not pass the offer to the tunnel splicer' });
    });
  }

  /** Ends one tunnel on this side: closes what Node still holds, reports it incomplete. */
  private abandon(id: number): void {
    const t = this.tunnels.get(id);
    if (!t) return;
    this.tunnels.delete(id);
    t.client.destroy();
    t.upstream.destroy();
    t.onEnd({ up: 0, down: 0, complete: false });
  }

  private endAll(): void {
    for (const id of [...this.tunnels.keys()]) this.abandon(id);
    for (const [id, done] of [...this.listenerOffers]) {
      this.listenerOffers.delete(id);
      done({ ok: false, reason: 'the tunnel splicer stopped' });
    }
  }

  /** Kills the helper, which closes every tunnel it carries, and waits for it (at most 2 s). */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.stopping = true;
    this.alive = false;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.closed, new Promise<void>((r) => (timer = setTimeout(r, 2000)))]);
    clearTimeout(timer);
    this.endAll();
  }
}
