/**
 * `/cordon/v1/clipboard` on the session's proxy (issue 18, item 2): what the
 * clipboard tools inside the sandbox (`xclip`, `xsel`, `wl-copy`, `wl-paste`,
 * `pbcopy`, `pbpaste`: sandbox-profiles/tools/cordon-clipboard) call.
 *
 *   GET  ?op=types&selection=S          the types the host clipboard offers, one per line
 *   GET  ?op=read&selection=S&type=T    its content as T (host→sandbox, through the gate)
 *   POST ?op=write&selection=S&type=T   body = new content (sandbox→host, through the gate)
 *
 * Answers: 200 (content, or a notice line after a write that was redacted),
 * 204 (written as sent), 403 with `X-Cordon-Deny: <gate reason>` and a line
 * saying why, 404 when the clipboard holds nothing of that type, 503 when this
 * Cordon has no host clipboard. Every transfer is judged by the gate
 * (core/gate/) and audited once, without its content.
 */
import { createHash } from 'node:crypto';
import type http from 'node:http';
import type { AuditSink } from '../audit/audit-event.js';
import type { LocalRoute } from '../egress/egress-proxy-options.js';
import { refuseResponse } from '../egress/proxy-answers.js';
import { afterAnswer, decide, decideBeforeScan, type GateDecision, type TransferDirection } from '../gate/gate-decision.js';
import { createGateScanner, judgeText, type GateScanner } from '../gate/gate-text.js';
import { auditTransfer } from '../gate/transfer-audit.js';
import type { TransferRate } from '../gate/transfer-rate.js';
import type { EffectivePolicy } from '../policy/policy-schema.js';
import { MAX_CLIPBOARD_BYTES, type HostClipboard, type Selection } from './host-clipboard.js';

export interface ClipboardRouteDeps {
  readonly sessionId: string;
  /** The host clipboard; null where there is none (a headless server). */
  readonly clipboard: HostClipboard | null;
  /** The policy in force now (it follows reloads). */
  readonly policy: () => Pick<EffectivePolicy, 'dlp' | 'gates'>;
  readonly audit: AuditSink;
  readonly rate: TransferRate;
  /** The approval queue, for `ask`; true for an allow. */
  readonly ask: (q: { readonly reason: string; readonly detail: Readonly<Record<string, string>> }) => Promise<boolean>;
}

/** Types that are text, whatever the tool calls them. */
const TEXT_TYPES = new Set(['text/plain', 'utf8_string', 'string', 'text', 'text/plain;charset=utf-8', 'compound_text']);

export function clipboardRoute(deps: ClipboardRouteDeps): LocalRoute {
  let scanner: { policy: object; scanner: GateScanner } | null = null;
  const scannerFor = (policy: Pick<EffectivePolicy, 'dlp' | 'gates'>): GateScanner => {
    if (scanner?.policy !== policy) scanner = { policy, scanner: createGateScanner(policy) };
    return scanner.scanner;
  };

  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://cordon.invalid');
    const op = url.searchParams.get('op');
    const selection = url.searchParams.get('selection') ?? 'clipboard';
    if (selection !== 'clipboard' && selection !== 'primary') return refuseResponse(res, 400, 'bad_request', 'selection is clipboard or primary');
    const rawType = (url.searchParams.get('type') ?? '').trim();
    if (rawType.length > 128 || /[^\w.+/;=-]/.test(rawType)) return refuseResponse(res, 400, 'bad_request', 'not a content type');
    const type = rawType === '' || TEXT_TYPES.has(rawType.toLowerCase()) ? 'text/plain' : rawType.toLowerCase();
    const wantsPost = op === 'write';
    if ((req.method === 'POST') !== wantsPost) return refuseResponse(res, 405, 'bad_request', wantsPost ? 'write with POST' : 'read with GET');
    if (op !== 'types' && op !== 'read' && op !== 'write') return refuseResponse(res, 400, 'bad_request', 'op is types, read or write');
    const clipboard = deps.clipboard;
    if (!clipboard) {
      if (wantsPost) await drain(req);
      return refuseResponse(res, 503, 'no_clipboard', 'this Cordon has no host clipboard (no display); nothing was copied');
    }
    const policy = deps.policy();
    try {
      if (op === 'types') return await types(clipboard, selection, policy, res);
      const call: ClipboardCall = { deps, clipboard, selection, type, policy, scanner: scannerFor(policy) };
      if (op === 'read') return await read(call, res);
      return await write(call, req, res);
    } catch (err) {
      return refuseResponse(res, 502, 'clipboard_error', `the host clipboard failed: ${(err as Error).message}`);
    }
  };
}

async function types(clipboard: HostClipboard, selection: Selection, policy: Pick<EffectivePolicy, 'gates'>, res: http.ServerResponse): Promise<void> {
  // Listing reveals no content, but a sandbox that may not read the clipboard is told so here already.
  if (policy.gates.clipboard.toSandbox === 'deny') return refuseResponse(res, 403, 'policy_deny', 'policy denies the clipboard into the sandbox (gates.clipboard.toSandbox)');
  const offered = await clipboard.types(selection);
  const body = offered.map((t) => `${t}\n`).join('');
  res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/** One read or write as the route parsed it: where, what type, under which policy. */
interface ClipboardCall {
  readonly deps: ClipboardRouteDeps;
  readonly clipboard: HostClipboard;
  readonly selection: Selection;
  readonly type: string;
  readonly policy: Pick<EffectivePolicy, 'dlp' | 'gates'>;
  readonly scanner: GateScanner;
}

async function read(call: ClipboardCall, res: http.ServerResponse): Promise<void> {
  const data = await call.clipboard.read(call.selection, call.type);
  if (data === null) return refuseResponse(res, 404, 'nothing_to_paste', `the clipboard holds no ${call.type}`);
  const out = await judge(call, 'toSandbox', data);
  if ('refusal' in out) return refuseResponse(res, 403, out.refusal.reason, out.refusal.message);
  res.writeHead(200, { 'Content-Type': call.type, 'Content-Length': out.bytes.length, 'X-Cordon-Gate': out.decision });
  res.end(out.bytes);
}

async function write(call: ClipboardCall, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  // Read at most one byte over the policy's limit: the gate refuses what is over it without keeping it all.
  const limit = Math.min(MAX_CLIPBOARD_BYTES, call.policy.gates.clipboard.maxBytes);
  const body = await readBounded(req, limit + 1);
  const out = await judge(call, 'fromSandbox', body);
  if ('refusal' in out) return refuseResponse(res, 403, out.refusal.reason, out.refusal.message);
  await call.clipboard.write(call.selection, call.type, out.bytes);
  if (out.decision === 'redact') {
    const note = `copied with ${out.message}\n`;
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(note), 'X-Cordon-Gate': 'redact' });
    res.end(note);
    return;
  }
  res.writeHead(204, { 'X-Cordon-Gate': out.decision });
  res.end();
}

type Judged = { readonly bytes: Buffer; readonly decision: 'allow' | 'redact'; readonly message: string } | { readonly refusal: { readonly reason: string; readonly message: string } };

/**
 * The gate's verdict on one clipboard transfer, audited once (after an
 * answer, for an ask). Text is scanned, redacted or refused; anything else
 * (an image) is opaque: it passes only where policy lets content it cannot
 * read pass.
 */
async function judge({ deps, type, policy, scanner }: ClipboardCall, direction: TransferDirection, data: Buffer): Promise<Judged> {
  const recentTransfers = deps.rate.recent(deps.sessionId, direction);
  deps.rate.record(deps.sessionId, direction);
  const sha256 = createHash('sha256').update(data).digest('hex');
  let decision: GateDecision;
  let output: Buffer | null;
  if (type === 'text/plain') {
    const judged = judgeText({ text: data.toString('utf8'), direction, channel: 'clipboard', contentType: type, recentTransfers }, policy, scanner);
    decision = judged.decision;
    output = judged.output === null ? null : Buffer.from(judged.output, 'utf8');
  } else {
    const base = { direction, channel: 'clipboard' as const, contentType: type, size: data.length, form: 'opaque' as const, recentTransfers };
    decision = decideBeforeScan(base, policy.gates) ?? decide({ ...base, scan: { status: 'complete', findings: [] } }, policy.gates);
    output = decision.kind === 'allow' ? data : null;
  }
  if (decision.kind === 'ask') {
    const approved = await deps
      .ask({ reason: decision.message, detail: { direction, type, size: String(data.length), findings: decision.findings.map((f) => `${f.detector}×${f.count}`).join(', ') } })
      .catch(() => false);
    decision = afterAnswer(decision, approved);
    output = decision.kind === 'allow' ? data : null;
  }
  const delivered = output !== null && decision.kind === 'redact' ? createHash('sha256').update(output).digest('hex') : undefined;
  auditTransfer(deps.audit, {
    sessionId: deps.sessionId,
    direction,
    channel: 'clipboard',
    contentType: type,
    size: data.length,
    sha256,
    decision,
    ...(delivered !== undefined ? { deliveredSha256: delivered } : {}),
  });
  if (decision.kind === 'deny' || decision.kind === 'ask' || output === null) return { refusal: { reason: decision.reason, message: decision.message } };
  return { bytes: output, decision: decision.kind, message: decision.message };
}

/** Up to LIMIT bytes of the body; the rest is read and dropped (so the answer can still be sent). */
function readBounded(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      if (size < limit) chunks.push(c.subarray(0, limit - size));
      size += c.length;
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', () => resolve(Buffer.concat(chunks)));
  });
}

async function drain(req: http.IncomingMessage): Promise<void> {
  await readBounded(req, 0);
}
