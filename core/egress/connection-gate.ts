import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import net from 'node:net';

/** sockaddr_un holds 108 bytes on Linux (104 on macOS); a longer path fails with an opaque EINVAL. */
export const MAX_SOCKET_PATH_BYTES = 103;

/**
 * The listening Unix socket in front of the egress proxy. It exists so the
 * socket can be bound before the sandbox starts while the proxy itself is
 * still being loaded: a session starts the container and sets up the proxy at
 * the same time, and a connection the sandbox opens in between waits here
 * (in the kernel's backlog, then in a short queue) instead of being refused.
 * Nothing is read from a held connection on its behalf; whatever arrives stays
 * in the socket's own buffer for the handler.
 */
export class ConnectionGate {
  private readonly held = new Set<net.Socket>();
  private handler: ((socket: net.Socket) => void) | null = null;
  private closed = false;

  private constructor(
    private readonly server: net.Server,
    readonly path: string,
  ) {
    server.on('connection', (socket: net.Socket) => {
      if (this.handler) {
        this.handler(socket);
        return;
      }
      this.held.add(socket);
      socket.once('close', () => this.held.delete(socket));
      // A client that gives up while held must not crash the process.
      socket.on('error', () => socket.destroy());
    });
  }

  /**
   * Binds PATH (replacing a stale socket left there, never any other kind of
   * file) and starts listening. MODE is applied to the socket file.
   * `pauseOnConnect`: Node never reads from a connection (for one whose bytes
   * and descriptors another process must receive, see the listener handoff).
   */
  static async listen(path: string, opts: { mode: number; pauseOnConnect?: boolean }): Promise<ConnectionGate> {
    if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
      throw new Error(`egress proxy: socket path is ${Buffer.byteLength(path)} bytes; Unix sockets allow at most ${MAX_SOCKET_PATH_BYTES}. Use a shorter session folder.`);
    }
    try {
      if (lstatSync(path).isSocket()) unlinkSync(path);
      else throw new Error(`egress proxy: ${path} exists and is not a socket`);
    } catch (e) {
      if (!(typeof e === 'object' && e !== null && 'code' in e && e.code === 'ENOENT')) throw e;
    }
    // Half-open as an HTTP server's own sockets are: a client's half-close must
    // reach the handler (and a CONNECT tunnel's far end), not end the socket.
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: opts.pauseOnConnect ?? false });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
    chmodSync(path, opts.mode);
    return new ConnectionGate(server, path);
  }

  /** Beyond N open connections, new ones are closed at once. */
  limitConnections(n: number): void {
    this.server.maxConnections = n;
  }

  /** Connections waiting for a handler. */
  get waiting(): number {
    return this.held.size;
  }

  /** Hands every held connection, then every new one, to HANDLER. */
  open(handler: (socket: net.Socket) => void): void {
    if (this.closed) throw new Error('egress proxy: the connection gate is closed');
    this.handler = handler;
    for (const socket of this.held) {
      this.held.delete(socket);
      socket.removeAllListeners('error');
      if (!socket.destroyed) handler(socket);
    }
  }

  /** Stops listening (the socket file goes away) and drops connections still held. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const socket of this.held) socket.destroy();
    this.held.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
