/**
 * The terminal-paste gate as a stream (issue 18, item 3): the bytes a person
 * types go in, what the agent may read comes out. Typing passes through
 * unchanged (see paste-filter.ts for the one bounded exception); each
 * bracketed paste is judged by the gate, audited, and delivered (possibly
 * redacted, markers kept so the agent still sees a paste) or dropped. The
 * person hears about a redaction or a refusal through `notify`, on their
 * side only: nothing is ever written into the agent's input but their own
 * (possibly redacted) bytes.
 *
 * Used by `cordon launch` (stdin) and by hosted terminals (the app's
 * embedded terminal), so both paths are this one adapter.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { createHash } from 'node:crypto';
import type { AuditSink } from '../audit/audit-event.js';
import { DEFAULT_GATES_POLICY, type EffectivePolicy } from '../policy/policy-schema.js';
import { afterAnswer, type GateDecision } from './gate-decision.js';
import { createGateScanner, judgeText, type GateScanner } from './gate-text.js';
import { HOLD_MS, IDLE_MS, PASTE_END, PASTE_START, PasteFilter, type PasteEvent } from './paste-filter.js';
import { auditTransfer } from './transfer-audit.js';

export interface PasteGateOptions {
  /** The policy in force now; null when it cannot be read (every paste is then refused). */
  readonly policy: () => Pick<EffectivePolicy, 'dlp' | 'gates'> | null;
  /** The session the terminal belongs to, once known (null before it started). */
  readonly sessionId: () => string | null;
  readonly audit: AuditSink;
  /** A short line for the person (stderr in the CLI, a notice event in the app). Never holds pasted content. */
  readonly notify: (message: string) => void;
  /**
   * Asks the person (approval queue) when the mode is `ask`; resolves true
   * for an allow. Absent: an `ask` is a refusal. Input typed after the paste
   * waits behind it until answered.
   */
  readonly ask?: (question: { readonly reason: string; readonly detail: Readonly<Record<string, string>> }) => Promise<boolean>;
  /** Test hooks: timer lengths (defaults HOLD_MS and IDLE_MS). */
  readonly holdMs?: number;
  readonly idleMs?: number;
}

/** A Transform from typed bytes to what the agent reads. End it to end the agent's input. */
export function createPasteGate(opts: PasteGateOptions): Transform {
  return new PasteGateStream(opts);
}

class PasteGateStream extends Transform {
  private pasteFilter: PasteFilter | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** Events handled strictly in order; an asked paste holds everything after it. */
  private queue: Promise<void> = Promise.resolve();
  private scanner: { policy: object; scanner: GateScanner } | null = null;

  constructor(private readonly opts: PasteGateOptions) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const filter = this.currentFilter();
    this.clearTimer();
    const events = filter.push(chunk);
    this.enqueue(events);
    void this.queue.then(() => {
      this.armTimer(filter);
      done();
    }, done);
  }

  override _flush(done: TransformCallback): void {
    this.clearTimer();
    // End of input: a held prefix is typing; an unterminated paste is refused.
    if (this.pasteFilter) this.enqueue(this.pasteFilter.timeout());
    void this.queue.then(() => done(), done);
  }

  override _destroy(err: Error | null, done: (error: Error | null) => void): void {
    this.clearTimer();
    done(err);
  }

  private currentFilter(): PasteFilter {
    // The bound is the policy's at the first byte: it does not change under a paste in progress.
    // Unreadable policy: the default bound, and every paste is then refused by the gate itself.
    this.pasteFilter ??= new PasteFilter(this.opts.policy()?.gates.clipboard.maxBytes ?? DEFAULT_GATES_POLICY.clipboard.maxBytes);
    return this.pasteFilter;
  }

  private enqueue(events: readonly PasteEvent[]): void {
    for (const e of events) this.queue = this.queue.then(() => this.handle(e));
  }

  private armTimer(filter: PasteFilter): void {
    const wait = filter.waiting;
    if (wait === 'none') return;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.enqueue(filter.timeout());
      },
      wait === 'hold' ? (this.opts.holdMs ?? HOLD_MS) : (this.opts.idleMs ?? IDLE_MS),
    );
    // A pending flush must not keep the process alive on its own.
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private async handle(e: PasteEvent): Promise<void> {
    switch (e.type) {
      case 'input':
        this.push(e.bytes);
        return;
      case 'paste_refused': {
        const message = e.reason === 'too_large' ? `paste of ${e.size} bytes is over the limit (gates.clipboard.maxBytes)` : 'paste never ended (no end marker)';
        auditTransfer(this.opts.audit, {
          sessionId: this.opts.sessionId(),
          direction: 'toSandbox',
          channel: 'paste',
          contentType: 'text/plain',
          size: e.size,
          sha256: e.sha256,
          decision: { kind: 'deny', reason: e.reason === 'too_large' ? 'too_large' : 'unscanned', message, mode: this.opts.policy()?.gates.clipboard.toSandbox ?? 'deny', findings: [] },
        });
        this.opts.notify(`paste refused: ${message}; nothing was sent to the agent`);
        return;
      }
      case 'paste':
        await this.pasteThroughGate(e.bytes, e.leadSent);
        return;
    }
  }

  private async pasteThroughGate(bytes: Buffer, leadSent: number): Promise<void> {
    const policy = this.opts.policy();
    const text = bytes.toString('utf8');
    let decision: GateDecision;
    let output: string | null;
    let sha256: string;
    if (policy === null) {
      sha256 = createHash('sha256').update(bytes).digest('hex');
      decision = { kind: 'deny', reason: 'policy_deny', message: 'paste: policy cannot be read, so nothing is pasted', mode: 'deny', findings: [] };
      output = null;
    } else {
      const judged = judgeText({ text, direction: 'toSandbox', channel: 'paste' }, policy, this.scannerFor(policy));
      decision = judged.decision;
      output = judged.output;
      sha256 = judged.sha256;
      if (decision.kind === 'ask') {
        const approved = this.opts.ask ? await this.opts.ask({ reason: decision.message, detail: { size: String(bytes.length), findings: decision.findings.map((f) => `${f.detector}×${f.count}`).join(', ') } }).catch(() => false) : false;
        decision = afterAnswer(decision, approved);
        output = approved ? text : null;
      }
    }
    const delivered = output === null || output === text ? undefined : createHash('sha256').update(output, 'utf8').digest('hex');
    auditTransfer(this.opts.audit, {
      sessionId: this.opts.sessionId(),
      direction: 'toSandbox',
      channel: 'paste',
      contentType: 'text/plain',
      size: bytes.length,
      sha256,
      decision,
      ...(delivered !== undefined ? { deliveredSha256: delivered } : {}),
    });
    switch (decision.kind) {
      case 'allow':
        break;
      case 'redact':
        this.opts.notify(`paste redacted: ${decision.message.replace(/^paste: /, '')}`);
        break;
      case 'ask':
      case 'deny':
        this.opts.notify(`paste refused: ${decision.message.replace(/^paste: /, '')}; nothing was sent to the agent`);
        break;
    }
    // The markers stay: the agent asked for bracketed paste and still gets one
    // (less a lone ESC that already went through as the Escape key).
    if (output !== null) this.push(Buffer.concat([PASTE_START.subarray(leadSent), Buffer.from(output, 'utf8'), PASTE_END]));
  }

  /** One compiled scanner per policy object (a reload hands a new one). */
  private scannerFor(policy: Pick<EffectivePolicy, 'dlp' | 'gates'>): GateScanner {
    if (this.scanner?.policy !== policy) this.scanner = { policy, scanner: createGateScanner(policy) };
    return this.scanner.scanner;
  }
}
