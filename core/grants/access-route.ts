/**
 * `POST /cordon/v1/access` on the session's proxy: what
 * `cordon-request-access` inside the sandbox calls. The body is a small
 * form (`path`, `write=1`, `reason`); the answer waits for the decision:
 *
 *   200  the in-sandbox path, alone on the first line (then, for a read-only
 *        grant, a note line); `X-Cordon-Grant: live|copy|workspace` and
 *        `X-Cordon-Write: 0|1` say how it is reachable
 *   403  `X-Cordon-Deny: <code>` and the reason on one line
 *   400/405/413  a request that is not one
 *
 * The sandbox is untrusted: the body is bounded, parsed as a form only, and
 * every field checked again by requestFileAccess.
 */
import type http from 'node:http';
import type { LocalRoute } from '../egress/egress-proxy-options.js';
import { refuseResponse } from '../egress/proxy-answers.js';
import type { FileAccessResult } from './file-access.js';

const MAX_BODY_BYTES = 8 * 1024;

export function accessRoute(decide: (req: { path: string; write: boolean; reason: string | null }) => Promise<FileAccessResult>): LocalRoute {
  return async (req, res) => {
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      refuseResponse(res, 405, 'bad_request', 'use POST with a form body: path=…&write=1&reason=…');
      return;
    }
    const body = await readBounded(req, MAX_BODY_BYTES);
    if (body === null) {
      refuseResponse(res, 413, 'bad_request', `the request body is over ${MAX_BODY_BYTES} bytes`, true);
      return;
    }
    const form = new URLSearchParams(body);
    const path = form.get('path');
    if (path === null) {
      refuseResponse(res, 400, 'bad_request', 'name the folder: path=/absolute/path');
      return;
    }
    const reason = form.get('reason');
    const write = form.get('write') === '1';
    const result = await decide({ path, write, reason: reason === null || reason.trim() === '' ? null : reason });
    if (!result.ok) {
      refuseResponse(res, result.code === 'bad_request' ? 400 : 403, result.code, result.message.replace(/[\r\n]+/g, ' '));
      return;
    }
    // The path alone on the first line (what the tool prints on stdout); a note after it goes to stderr.
    const note = result.mechanism === 'copy' || (write && !result.write && result.mechanism === 'live') ? noteFor(result.mechanism) : '';
    const out = `${result.sandboxPath}\n${note}`;
    res.writeHead(200, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(out),
      'X-Cordon-Grant': result.mechanism,
      'X-Cordon-Write': result.write ? '1' : '0',
    });
    res.end(out);
  };
}

/** The body as text, or null when it is over LIMIT bytes. */
function readBounded(req: http.IncomingMessage, limit: number): Promise<string | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) over = true;
      else chunks.push(c);
    });
    req.on('end', () => resolve(over ? null : Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => resolve(null));
  });
}

function noteFor(mechanism: 'live' | 'copy'): string {
  return mechanism === 'copy' ? 'note: a read-only copy; changes inside are not written back to the host\n' : 'note: granted read-only, not read-write\n';
}
