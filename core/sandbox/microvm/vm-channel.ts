import { connect, type Socket } from 'node:net';
import type { Duplex, Readable, Writable } from 'node:stream';

/**
 * The host's end of a microVM guest's one channel (issue 21; threats V6, V7 in
 * docs/threat-model-microvm.md): a virtio-serial port that QEMU connects to a
 * Unix socket this process serves. It carries, as frames, the command's stdio
 * and exit status (stream 0) and every connection the guest's init accepts on
 * its in-guest proxy and lifeline sockets (streams 1…), which this end
 * connects to the session's own sockets of the same role — never anything
 * the guest names. The guest side is sandbox-profiles/vm/cordon-vminit.c.
 *
 * Frame: type u8, stream u32 BE, length u32 BE, payload (≤ MAX_FRAME).
 * Any frame that breaks the rules below closes the whole channel (fail
 * closed: the in-guest relay then loses its lifeline and its proxy).
 */
export const FrameType = {
  open: 1,
  data: 2,
  eof: 3,
  close: 4,
  credit: 5,
  stdout: 6,
  stderr: 7,
  exit: 8,
  stdin: 9,
  stdinEof: 10,
  resize: 11,
  bye: 12,
} as const;

export const MAX_FRAME = 64 * 1024;
/** Bytes either side may send on a stream before the other grants more (what each end buffers, at most). */
export const WINDOW = 256 * 1024;
/** Streams open at once, as the guest's init allows. */
export const MAX_STREAMS = 256;
const HEADER = 9;

/** Where a stream the guest opens may lead: one code per role, the host decides the path. */
export type ChannelTargets = Readonly<Record<1 | 2, string>>;

export interface Frame {
  readonly type: number;
  readonly stream: number;
  readonly payload: Buffer;
}

export function encodeFrame(type: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(HEADER);
  head.writeUInt8(type, 0);
  head.writeUInt32BE(stream, 1);
  head.writeUInt32BE(payload.length, 5);
  return Buffer.concat([head, payload]);
}

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0, 0);
  return b;
}

/** Splits a byte stream into frames; throws on a frame longer than MAX_FRAME (the caller then closes the channel). */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const frames: Frame[] = [];
    while (this.buf.length >= HEADER) {
      const len = this.buf.readUInt32BE(5);
      if (len > MAX_FRAME) throw new Error(`frame of ${len} bytes (limit ${MAX_FRAME})`);
      if (this.buf.length < HEADER + len) break;
      frames.push({ type: this.buf.readUInt8(0), stream: this.buf.readUInt32BE(1), payload: Buffer.from(this.buf.subarray(HEADER, HEADER + len)) });
      this.buf = this.buf.subarray(HEADER + len);
    }
    return frames;
  }
}

interface HostStream {
  readonly socket: Socket;
  /** Bytes the guest may still send before we grant more. */
  guestWindow: number;
  /** Bytes we may still send to the guest. */
  credit: number;
  /** Bytes from the socket not yet sent for want of credit (the socket is paused meanwhile). */
  pending: Buffer[];
  /** The socket ended; EOF goes out once PENDING is sent. */
  ended: boolean;
}

export interface ChannelEvents {
  /** The guest's command ended with CODE; the channel has answered with its goodbye. */
  readonly onExit: (code: number) => void;
  /** The channel broke a rule or closed; REASON says which (for the launcher's notice). */
  readonly onBroken: (reason: string) => void;
}

/**
 * Serves one guest over DUPLEX (QEMU's connection). STDIN (or null: end of
 * file at once) goes to the command with the guest's credit; its stdout and
 * stderr are written to IO as they come.
 */
export class ChannelHost {
  private readonly decoder = new FrameDecoder();
  private readonly streams = new Map<number, HostStream>();
  private lastOpened = 0;
  private stdinCredit = WINDOW;
  private stdinSource: Readable | null = null;
  private readonly stdinPending: Buffer[] = [];
  private stdinEnded = false;
  private closed = false;
  private exited = false;

  constructor(
    private readonly duplex: Duplex,
    private readonly targets: ChannelTargets,
    private readonly io: { readonly stdin: Readable | null; readonly stdout: Writable; readonly stderr: Writable },
    private readonly events: ChannelEvents,
  ) {
    duplex.on('data', (chunk: Buffer) => this.onData(chunk));
    duplex.on('error', () => this.fail('the channel socket failed'));
    duplex.on('close', () => this.fail('the guest closed the channel'));
    this.wireStdin();
  }

  resize(rows: number, cols: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt16BE(Math.max(1, Math.min(rows, 65535)), 0);
    b.writeUInt16BE(Math.max(1, Math.min(cols, 65535)), 2);
    this.send(FrameType.resize, 0, b);
  }

  close(): void {
    this.closed = true;
    for (const s of this.streams.values()) s.socket.destroy();
    this.streams.clear();
    this.stdinSource?.pause();
    this.duplex.destroy();
  }

  private wireStdin(): void {
    const stdin = this.io.stdin;
    if (!stdin) {
      this.send(FrameType.stdinEof, 0);
      return;
    }
    this.stdinSource = stdin;
    stdin.on('data', (chunk: Buffer | string) => {
      this.stdinPending.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      this.pumpStdin();
    });
    stdin.on('end', () => {
      this.stdinEnded = true;
      this.pumpStdin();
    });
  }

  /** Sends the command's input within the guest's credit; the source stays paused while anything waits. */
  private pumpStdin(): void {
    while (this.stdinPending.length > 0 && this.stdinCredit > 0) {
      const head = this.stdinPending[0] as Buffer;
      const n = Math.min(head.length, this.stdinCredit, 32 * 1024);
      this.send(FrameType.stdin, 0, head.subarray(0, n));
      this.stdinCredit -= n;
      if (n === head.length) this.stdinPending.shift();
      else this.stdinPending[0] = head.subarray(n);
    }
    if (this.stdinPending.length > 0) {
      this.stdinSource?.pause();
      return;
    }
    if (this.stdinEnded) {
      this.stdinEnded = false;
      this.send(FrameType.stdinEof, 0);
      return;
    }
    this.stdinSource?.resume();
  }

  private send(type: number, stream: number, payload?: Buffer): void {
    if (this.closed || this.duplex.destroyed) return;
    this.duplex.write(encodeFrame(type, stream, payload));
  }

  private fail(reason: string): void {
    if (this.closed) return;
    this.close();
    this.events.onBroken(reason);
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.fail((err as Error).message);
      return;
    }
    for (const f of frames) {
      const problem = this.handle(f);
      if (problem) {
        this.fail(problem);
        return;
      }
    }
  }

  /** Applies one frame from the guest; a string is a rule it broke. */
  private handle(f: Frame): string | null {
    const { type, stream, payload } = f;
    if (stream === 0) {
      switch (type) {
        case FrameType.stdout:
          this.io.stdout.write(payload);
          return null;
        case FrameType.stderr:
          this.io.stderr.write(payload);
          return null;
        case FrameType.credit:
          if (payload.length !== 4) return 'bad credit frame';
          this.stdinCredit += payload.readUInt32BE(0);
          if (this.stdinCredit > WINDOW) return 'stdin credit beyond the window';
          this.pumpStdin();
          return null;
        case FrameType.exit:
          if (payload.length !== 4 || this.exited) return 'bad exit frame';
          this.exited = true;
          this.send(FrameType.bye, 0);
          this.events.onExit(payload.readInt32BE(0));
          return null;
        default:
          return `frame type ${type} is not allowed on stream 0`;
      }
    }
    if (type === FrameType.open) {
      if (stream <= this.lastOpened) return `stream ${stream} opened out of order`;
      if (this.streams.size >= MAX_STREAMS) return 'too many streams';
      const code = payload.length === 1 ? payload.readUInt8(0) : 0;
      if (code !== 1 && code !== 2) return `unknown stream target ${code}`;
      this.lastOpened = stream;
      this.openStream(stream, this.targets[code]);
      return null;
    }
    const s = this.streams.get(stream);
    if (!s) {
      // A frame for a stream we already closed is a race, not an attack; one never opened is.
      return stream > this.lastOpened ? `frame for stream ${stream}, which was never opened` : null;
    }
    switch (type) {
      case FrameType.data:
        if (payload.length > s.guestWindow) return `stream ${stream} sent beyond its window`;
        s.guestWindow -= payload.length;
        s.socket.write(payload, () => {
          s.guestWindow += payload.length;
          if (this.streams.get(stream) === s) this.send(FrameType.credit, stream, u32(payload.length));
        });
        return null;
      case FrameType.eof:
        s.socket.end();
        return null;
      case FrameType.close:
        this.streams.delete(stream);
        s.socket.destroy();
        return null;
      case FrameType.credit:
        if (payload.length !== 4) return 'bad credit frame';
        s.credit += payload.readUInt32BE(0);
        if (s.credit > WINDOW) return `stream ${stream} granted beyond the window`;
        this.pump(stream, s);
        return null;
      default:
        return `frame type ${type} is not allowed on a stream`;
    }
  }

  /** Sends what the guest has room for; the socket stays paused while anything waits. */
  private pump(id: number, s: HostStream): void {
    while (s.pending.length > 0 && s.credit > 0) {
      const head = s.pending[0] as Buffer;
      const n = Math.min(head.length, s.credit, 32 * 1024);
      this.send(FrameType.data, id, head.subarray(0, n));
      s.credit -= n;
      if (n === head.length) s.pending.shift();
      else s.pending[0] = head.subarray(n);
    }
    if (s.pending.length > 0) {
      s.socket.pause();
      return;
    }
    if (s.ended) {
      s.ended = false;
      if (this.streams.get(id) === s) this.send(FrameType.eof, id);
      return;
    }
    s.socket.resume();
  }

  private openStream(id: number, path: string): void {
    const socket = connect(path);
    const s: HostStream = { socket, guestWindow: WINDOW, credit: WINDOW, pending: [], ended: false };
    this.streams.set(id, s);
    socket.on('data', (chunk: Buffer) => {
      s.pending.push(chunk);
      this.pump(id, s);
    });
    socket.on('end', () => {
      s.ended = true;
      this.pump(id, s);
    });
    const gone = (): void => {
      if (this.streams.get(id) !== s) return;
      this.streams.delete(id);
      this.send(FrameType.close, id);
    };
    socket.on('close', gone);
    socket.on('error', gone);
  }
}
