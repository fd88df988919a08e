/**
 * A session's terminal kept in memory by the process that hosts it (the tray
 * app, `cordon ui`), so a window can attach, detach and attach again: the
 * agent writes into `output`, keystrokes arrive through `input`, and the last
 * BACKLOG_CHARS of output are kept for a window that attaches late.
 */
import { PassThrough, Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

/** Enough for a few screens of scrollback; older output is dropped from the backlog only. */
export const BACKLOG_CHARS = 256 * 1024;

export class HostedTerminal {
  /** What the sandbox reads as its stdin. */
  readonly input = new PassThrough();
  /** What the sandbox's TTY writes to (stdout and stderr are one stream under a TTY). */
  readonly output: Writable;
  private backlogText = '';
  private readonly decoder = new StringDecoder('utf8');

  constructor(onOutput: (text: string) => void) {
    this.output = new Writable({
      write: (chunk: Buffer, _enc, done) => {
        // A multi-byte character split across chunks is held until it is whole.
        const text = this.decoder.write(chunk);
        if (text !== '') {
          this.backlogText = (this.backlogText + text).slice(-BACKLOG_CHARS);
          onOutput(text);
        }
        done();
      },
    });
  }

  get backlog(): string {
    return this.backlogText;
  }

  write(data: string): void {
    if (!this.input.writableEnded) this.input.write(data);
  }

  end(): void {
    this.input.end();
  }
}
