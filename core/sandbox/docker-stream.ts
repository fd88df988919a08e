import type { Readable, Writable } from 'node:stream';

/**
 * Splits Docker's multiplexed attach stream (non-TTY containers) into stdout
 * and stderr. Each frame is an 8-byte header — stream id (1 = stdout,
 * 2 = stderr), three zero bytes, big-endian payload length — then the payload.
 * Frames may arrive split across chunks or several to a chunk.
 */
export function demuxDockerStream(source: Readable | NodeJS.ReadableStream, stdout: Writable, stderr: Writable): void {
  let pending: Buffer = Buffer.alloc(0);
  source.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 8) {
      const size = pending.readUInt32BE(4);
      if (pending.length < 8 + size) break;
      const payload = pending.subarray(8, 8 + size);
      const id = pending[0];
      // stdin echo (0) never happens for attach; anything unknown goes to stderr.
      (id === 1 ? stdout : stderr).write(payload);
      pending = pending.subarray(8 + size);
    }
  });
}
