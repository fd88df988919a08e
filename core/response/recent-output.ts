/**
 * The sandbox's most recent output (issue 20: "recent output" in the evidence
 * bundle), kept in a bounded ring as it streams to the user's terminal.
 */
import { Writable } from 'node:stream';
import type { SandboxIo } from '../sandbox/sandbox-engine.js';

export class RecentOutput {
  #chunks: Buffer[] = [];
  #bytes = 0;

  constructor(private readonly maxBytes = 256 * 1024) {}

  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#bytes += chunk.length;
    while (this.#bytes - (this.#chunks[0]?.length ?? 0) >= this.maxBytes && this.#chunks.length > 1) this.#bytes -= (this.#chunks.shift() as Buffer).length;
  }

  /** The last bytes seen (up to the cap), as text (quarantine redacts phantoms from every file it bundles). */
  text(): string {
    const all = Buffer.concat(this.#chunks);
    return all.subarray(Math.max(0, all.length - this.maxBytes)).toString('utf8');
  }
}

/** IO whose stdout and stderr also feed RECENT; backpressure is the original stream's. */
export function teeOutput(io: SandboxIo, recent: RecentOutput): SandboxIo {
  const tee = (target: Writable): Writable =>
    new Writable({
      write(chunk: Buffer, _enc, cb): void {
        recent.push(Buffer.from(chunk));
        if (target.write(chunk)) cb();
        else target.once('drain', () => cb());
      },
    });
  return { stdin: io.stdin, stdout: tee(io.stdout), stderr: tee(io.stderr) };
}
