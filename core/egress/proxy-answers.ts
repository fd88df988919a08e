/**
 * What the proxy writes back by itself: refusals (a raw one on a socket, or
 * on an HTTP response) and the end-to-end headers it passes on.
 */
import http from 'node:http';
import type net from 'node:net';
import { STATUS } from './deny-messages.js';
import type { DenyReason } from './host-match.js';

/** Writes a raw HTTP refusal on a socket that is not (or no longer) an http response. */
export function refuseSocket(socket: net.Socket, reason: DenyReason, message: string): void {
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  const body = `${message}\n`;
  const status = STATUS[reason];
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}\r\nX-Cordon-Deny: ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
  // A client that never reads or closes must not hold the descriptor.
  socket.setTimeout(2000, () => socket.destroy());
}

/** Answers `status` with `X-Cordon-Deny: reason` and the message; a response already under way is cut instead. */
export function refuseResponse(res: http.ServerResponse, status: number, reason: string, message: string, close = false): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = `${message}\n`;
  const headers: http.OutgoingHttpHeaders = {
    'X-Cordon-Deny': reason,
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
  };
  if (close) headers['Connection'] = 'close';
  res.writeHead(status, headers);
  res.end(body);
}

/** Headers that describe one hop, never forwarded (RFC 9110 §7.6.1), plus proxy credentials. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Copies raw header pairs, dropping hop-by-hop ones and those the Connection header names. */
export function endToEndHeaders(raw: readonly string[], drop: readonly string[] = []): [string, string][] {
  const named = new Set(drop);
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]?.toLowerCase() === 'connection') for (const t of (raw[i + 1] ?? '').split(',')) named.add(t.trim().toLowerCase());
  }
  const out: [string, string][] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] ?? '';
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || named.has(lower)) continue;
    out.push([name, raw[i + 1] ?? '']);
  }
  return out;
}
