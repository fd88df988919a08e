/**
 * The session's control socket, `<session>/control.sock`: how another Cordon
 * process of the same user (the CLI's `cordon approvals grant`, the app)
 * reaches the process hosting a session, to push a folder to it without the
 * agent asking. The socket sits in the session's 0700 folder and is never
 * mounted into the sandbox, so only the user (and root) can connect.
 *
 * Protocol: one JSON request line, one JSON answer line, then close. The
 * `quarantine` op (issue 20) answers with two lines: an acknowledgement as
 * soon as the session is contained (phantom revoked, egress closed, sandbox
 * paused), then the outcome once the evidence is written; a client that sees
 * no acknowledgement in time knows the host is not answering and contains
 * the sandbox through the engine itself. Old clients send only `grant`.
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

const QuarantineOrder = z.strictObject({
  op: z.literal('quarantine'),
  /** Why, in the user's words (kept in the audit log and the bundle). */
  reason: z.string().max(500),
  /** Who asked: `cordon quarantine`, the app, a detection rule. */
  by: z.string().min(1).max(100),
  /** When the order was given (epoch ms), so the host can report how long containment took. */
  issuedAt: z.number().int().nonnegative(),
});
export type QuarantineOrder = z.infer<typeof QuarantineOrder>;

const QuarantineAck = z.strictObject({ ok: z.literal(true), stage: z.literal('contained'), revokedAt: z.number(), pausedAt: z.number() });
export type QuarantineAck = z.infer<typeof QuarantineAck>;

const QuarantineDone = z.union([
  z.strictObject({
    ok: z.literal(true),
    stage: z.literal('done'),
    bundle: z.string(),
    signed: z.boolean(),
    /** Why the bundle is unsigned; null when signed. */
    unsignedWhy: z.string().nullable(),
    kept: z.strictObject({ containerId: z.string(), image: z.string() }).nullable(),
    timings: z.record(z.string(), z.number()),
  }),
  z.strictObject({ ok: z.literal(false), code: z.string(), message: z.string() }),
]);
export type QuarantineDone = z.infer<typeof QuarantineDone>;

/** What the host does with a quarantine order: ACK once contained, then resolve with the outcome. */
export type QuarantineHandler = (order: QuarantineOrder, ack: (a: QuarantineAck) => void) => Promise<QuarantineDone>;

const Answer = z.union([
  z.strictObject({ ok: z.literal(true), sandboxPath: z.string(), write: z.boolean(), mechanism: z.enum(['workspace', 'live', 'copy']) }),
  z.strictObject({ ok: z.literal(false), code: z.string(), message: z.string() }),
]);
export type ControlAnswer = z.infer<typeof Answer>;

export function controlSocketPath(sessionDir: string): string {
  return join(sessionDir, CONTROL_SOCKET);
}

/** Serves grant orders (and quarantine orders, given ONQUARANTINE) for one session until closed. */
export async function serveSessionControl(
  sessionDir: string,
  onGrant: (order: GrantOrder) => Promise<FileAccessResult>,
  onQuarantine?: QuarantineHandler,
): Promise<{ close(): Promise<void> }> {
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
      let raw: unknown;
      try {
        raw = JSON.parse(buf.slice(0, nl));
      } catch {
        raw = undefined;
      }
      const quarantine = QuarantineOrder.safeParse(raw);
      if (quarantine.success) {
        const done = (a: QuarantineDone): void => void sock.end(`${JSON.stringify(a)}\n`);
        if (!onQuarantine) return done({ ok: false, code: 'unsupported', message: 'this session cannot be quarantined by its host' });
        let acked = false;
        const ack = (a: QuarantineAck): void => {
          if (acked || sock.destroyed) return;
          acked = true;
          sock.write(`${JSON.stringify(a)}\n`);
        };
        onQuarantine(quarantine.data, ack).then(done, (err: unknown) => done({ ok: false, code: 'quarantine_failed', message: (err as Error).message }));
        return;
      }
      const parsed = GrantOrder.safeParse(raw);
      const reply = (a: ControlAnswer): void => void sock.end(`${JSON.stringify(a)}\n`);
      if (!parsed.success) return reply({ ok: false, code: 'bad_request', message: 'not a grant or quarantine order' });
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

export type QuarantineReply =
  | { readonly kind: 'done'; readonly ack: QuarantineAck; readonly done: QuarantineDone }
  /** The host acknowledged but did not finish (it died, or took longer than the deadline). */
  | { readonly kind: 'partial'; readonly ack: QuarantineAck; readonly message: string }
  /** No acknowledgement within ACKMS: the host is gone, stopped or hung; the caller contains the sandbox itself. */
  | { readonly kind: 'unanswered'; readonly message: string }
  | { readonly kind: 'refused'; readonly done: Extract<QuarantineDone, { ok: false }> };

/** Sends a quarantine order to the process hosting the session in SESSIONDIR. */
export function sendQuarantineOrder(sessionDir: string, order: QuarantineOrder, opts: { readonly ackMs: number; readonly doneMs: number }): Promise<QuarantineReply> {
  return new Promise((resolve) => {
    const sock = net.connect(controlSocketPath(sessionDir));
    let buf = '';
    let ack: QuarantineAck | null = null;
    let settled = false;
    const settle = (r: QuarantineReply): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const lost = (message: string): void => settle(ack ? { kind: 'partial', ack, message } : { kind: 'unanswered', message });
    let timer = setTimeout(() => lost(`the session did not acknowledge within ${opts.ackMs} ms`), opts.ackMs);
    sock.on('connect', () => sock.write(`${JSON.stringify(order)}\n`));
    sock.on('data', (c: Buffer) => {
      buf += c.toString('utf8');
      if (buf.length > MAX_LINE_BYTES * 4) return lost('the session answered too much');
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let raw: unknown;
        try {
          raw = JSON.parse(line);
        } catch {
          return lost('the session gave an unreadable answer');
        }
        const a = QuarantineAck.safeParse(raw);
        if (a.success && !ack) {
          ack = a.data;
          clearTimeout(timer);
          timer = setTimeout(() => lost(`the session did not finish within ${opts.doneMs} ms`), opts.doneMs);
          continue;
        }
        const d = QuarantineDone.safeParse(raw);
        if (!d.success) return lost('the session gave an unreadable answer');
        if (!d.data.ok) return settle({ kind: 'refused', done: d.data });
        return ack ? settle({ kind: 'done', ack, done: d.data }) : lost('the session finished without acknowledging');
      }
    });
    sock.on('close', () => lost('the session closed the connection'));
    sock.on('error', (err: NodeJS.ErrnoException) =>
      lost(err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? 'the session has no live host (its control socket does not answer)' : `cannot reach the session: ${err.message}`),
    );
  });
}
