/**
 * The session's control socket, `<session>/control.sock`: how another Cordon
 * process of the same user (the CLI's `cordon approvals grant`, the app)
 * reaches the process hosting a session, to push a folder to it without the
 * agent asking. The socket sits in the session's 0700 folder and is never
 * mounted into the sandbox, so only the user (and root) can connect.
 *
 * Protocol: one JSON request line, one JSON answer line, then close.
 */
import { chmodSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { z } from 'zod';
import type { FileAccessResult } from './file-access.js';

export const CONTROL_SOCKET = 'control.sock';
const MAX_LINE_BYTES = 8 * 1024;

const GrantOrder = z.strictObject({
  op: z.literal('grant'),
  path: z.string().min(1).max(1024),
  write: z.boolean(),
  /** ISO time the grant ends; null = when the session ends. */
  until: z.iso.datetime().nullable(),
});
export type GrantOrder = z.infer<typeof GrantOrder>;

const Answer = z.union([
  z.strictObject({ ok: z.literal(true), sandboxPath: z.string(), write: z.boolean(), mechanism: z.enum(['workspace', 'live', 'copy']) }),
  z.strictObject({ ok: z.literal(false), code: z.string(), message: z.string() }),
]);
export type ControlAnswer = z.infer<typeof Answer>;

export function controlSocketPath(sessionDir: string): string {
  return join(sessionDir, CONTROL_SOCKET);
}

/** Serves grant orders for one session until closed. */
export async function serveSessionControl(sessionDir: string, onGrant: (order: GrantOrder) => Promise<FileAccessResult>): Promise<{ close(): Promise<void> }> {
  const path = controlSocketPath(sessionDir);
  const server = net.createServer((sock) => {
    sock.setTimeout(10_000, () => sock.destroy());
    let buf = '';
    sock.on('data', (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      if (buf.length > MAX_LINE_BYTES) return void sock.destroy();
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      sock.removeAllListeners('data');
      sock.setTimeout(0);
      let parsed: ReturnType<typeof GrantOrder.safeParse>;
      try {
        parsed = GrantOrder.safeParse(JSON.parse(buf.slice(0, nl)));
      } catch {
        parsed = GrantOrder.safeParse(undefined);
      }
      const reply = (a: ControlAnswer): void => void sock.end(`${JSON.stringify(a)}\n`);
      if (!parsed.success) return reply({ ok: false, code: 'bad_request', message: 'not a grant order' });
      onGrant(parsed.data).then(
        (r) => reply(r.ok ? { ok: true, sandboxPath: r.sandboxPath, write: r.write, mechanism: r.mechanism } : { ok: false, code: r.code, message: r.message }),
        (err: unknown) => reply({ ok: false, code: 'grant_failed', message: (err as Error).message }),
      );
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  chmodSync(path, 0o600);
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        try {
          unlinkSync(path);
        } catch {
          // Already gone with the session folder.
        }
      }),
  };
}

/** Sends a grant order to the process hosting the session in SESSIONDIR. */
export function sendGrantOrder(sessionDir: string, order: GrantOrder): Promise<ControlAnswer> {
  return new Promise((resolve) => {
    const sock = net.connect(controlSocketPath(sessionDir));
    let buf = '';
    const fail = (message: string): void => resolve({ ok: false, code: 'unreachable', message });
    sock.setTimeout(30_000, () => {
      sock.destroy();
      fail('the session did not answer within 30 s');
    });
    sock.on('connect', () => sock.write(`${JSON.stringify(order)}\n`));
    sock.on('data', (c: Buffer) => {
      buf += c.toString('utf8');
      if (buf.length > MAX_LINE_BYTES) sock.destroy();
    });
    sock.on('end', () => {
      let parsed: ReturnType<typeof Answer.safeParse>;
      try {
        parsed = Answer.safeParse(JSON.parse(buf.trim()));
      } catch {
        parsed = Answer.safeParse(undefined);
      }
      resolve(parsed.success ? parsed.data : { ok: false, code: 'unreachable', message: 'the session gave an unreadable answer' });
    });
    sock.on('error', (err: NodeJS.ErrnoException) =>
      fail(err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? 'the session is not running (or was started by a Cordon without grants)' : `cannot reach the session: ${err.message}`),
    );
  });
}
