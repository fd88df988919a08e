/**
 * A session's terminal kept in memory by the process that hosts it (the tray
 * app, `cordon ui`), so a window can attach, detach and attach again: the
 * agent writes into `output`, keystrokes arrive through `input`, and the last
 * BACKLOG_CHARS of output are kept for a window that attaches late.
 */
import { PassThrough, Writable, type Duplex } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

/** Enough for a few screens of scrollback; older output is dropped from the backlog only. */
export const BACKLOG_CHARS = 256 * 1024;

export class HostedTerminal {
  /** What the sandbox reads as its stdin: the keystrokes after the input gate (terminal paste, issue 18). */
  readonly input: Duplex;
  /** What the sandbox's TTY writes to (stdout and stderr are one stream under a TTY). */
  readonly output: Writable;
  /** Output chunks, oldest first, holding at most BACKLOG_CHARS beyond the newest chunk. */
  private readonly chunks: string[] = [];
  private chunkChars = 0;
  private readonly decoder = new StringDecoder('utf8');

  /** @param inputGate what keystrokes pass through before the sandbox reads them; none: they pass as typed. */
  constructor(onOutput: (text: string) => void, inputGate?: Duplex) {
    this.input = inputGate ?? new PassThrough();
    this.output = new Writable({
      write: (chunk: Buffer, _enc, done) => {
        // A multi-byte character split across chunks is held until it is whole.
        const text = this.decoder.write(chunk);
        if (text !== '') {
          // Kept as chunks: re-slicing a 256 KB string on every write of a chatty agent is a copy per keystroke.
          this.chunks.push(text);
          this.chunkChars += text.length;
          while (this.chunks.length > 1 && this.chunkChars - (this.chunks[0]?.length ?? 0) >= BACKLOG_CHARS) this.chunkChars -= this.chunks.shift()?.length ?? 0;
          onOutput(text);
        }
        done();
      },
    });
  }

  /** The last BACKLOG_CHARS characters written. */
  get backlog(): string {
    return this.chunks.join('').slice(-BACKLOG_CHARS);
  }

  write(data: string): void {
    if (!this.input.writableEnded) this.input.write(data);
  }

  end(): void {
    this.input.end();
  }
}
