import type net from 'node:net';
import { ConnectionGate } from '../egress/connection-gate.js';

/**
 * Exit status of `cordon-relay` when it ended the sandbox because the
 * launcher's lifeline broke (EXIT_LIFELINE_LOST in cordon-relay.c). The
 * reaper reads it back from the engine's record of the container's exit.
 */
export const RELAY_EXIT_LIFELINE_LOST = 112;

/** The one byte the launcher writes once it holds the relay's connection and no longer accepts others. */
export const LIFELINE_HELD = Buffer.from([0x01]);

/**
 * The launcher's end of a session's lifeline (issue 13): a Unix socket in the
 * session's egress folder, bound before the container exists, to which the
 * in-sandbox relay (PID 1) connects before it starts the agent. Nothing is
 * read from the connection and one byte is written to it (below); it exists
 * to close. When this process dies, whatever killed it, the kernel closes its
 * end and the relay ends the sandbox, so an agent never keeps the workspace
 * after Cordon is gone.
 *
 * Only the first connection is kept, and the socket stops accepting as soon as
 * it arrives; then one byte, HELD, tells the relay so, and only then does the
 * relay start the agent. (Its connect() returns as soon as the kernel queues
 * it, before this process has run: without the byte, an agent started at once
 * could queue a connection of its own before the socket closed. Such a
 * connection is destroyed on accept, but the promise is that it never
 * connects.) So the agent can neither take the relay's place nor hold a
 * second lifeline open. The kept
 * socket is close-on-exec (libuv's accept4), so no child this process starts
 * (cordon-splice, a provider's credential command) inherits it and keeps the
 * sandbox alive after this process is gone.
 */
export class Lifeline {
  private held: net.Socket | null = null;

  private constructor(private readonly gate: ConnectionGate) {
    gate.open((socket) => this.accept(socket));
  }

  /**
   * Binds PATH (mode 0666: the sandbox's unprivileged user connects to it; keep
   * it in a folder only the session reaches). Throws when it cannot be bound.
   */
  static async bind(path: string): Promise<Lifeline> {
    // Never read: the relay sends nothing, and anything it did send is not ours to act on.
    return new Lifeline(await ConnectionGate.listen(path, { mode: 0o666, pauseOnConnect: true }));
  }

  /** True once the relay holds the lifeline. */
  get connected(): boolean {
    return this.held !== null && !this.held.destroyed;
  }

  private accept(socket: net.Socket): void {
    if (this.held !== null) {
      socket.destroy();
      return;
    }
    this.held = socket;
    socket.on('error', () => undefined);
    // The session's wait on the engine keeps the process alive, not this socket.
    socket.unref();
    // Stops accepting (the socket file goes away at once; the promise resolves
    // when the kept connection closes), then lets the relay start the agent.
    void this.gate.close();
    socket.write(LIFELINE_HELD);
  }

  /** Closes this end: the relay then ends the sandbox if it still runs. Call after the container is gone. */
  async close(): Promise<void> {
    this.held?.destroy();
    await this.gate.close();
  }
}
