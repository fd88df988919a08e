/**
 * Finds bracketed pastes in the bytes a person types into the agent's
 * terminal (issue 18, item 3). A terminal in bracketed-paste mode wraps
 * pasted text in `ESC[200~` … `ESC[201~`; everything else is typing.
 *
 * Pure and streaming: `push` takes each read as it comes and returns what
 * to do with it; `timeout` is called by the owner when no byte arrived for
 * the time `waiting` asks for. The rules (docs/threat-model-gate.md G2-G4):
 *
 * - typing passes at once, byte for byte, in order. The one exception: a
 *   read that ends in a strict prefix of the start marker (`ESC[2`) keeps
 *   those few bytes until the next read shows whether a marker follows, or
 *   HOLD_MS pass. A read that is exactly one ESC (the Escape key, which
 *   interrupts Claude Code) passes at once, and a paste marker completed by
 *   the next read still opens a paste (its event says the ESC was sent);
 * - a paste's content is buffered up to `maxPasteBytes`; past that the
 *   paste is refused and the rest of it discarded (only hashed, for the
 *   audit record) up to its end marker, so no part of it reaches the agent
 *   unscanned; the refusal is reported when the paste ends;
 * - a paste (or a discard) that sees no byte for IDLE_MS ends: what was
 *   buffered is refused as incomplete, and typing passes again. So an end
 *   marker that never comes costs at most one pause of typing.
 */

import { createHash, type Hash } from 'node:crypto';

export const PASTE_START = Buffer.from('\x1b[200~', 'latin1');
export const PASTE_END = Buffer.from('\x1b[201~', 'latin1');
/** How long a possible marker prefix at the end of a read is held. */
export const HOLD_MS = 20;
/** How long a paste may go without a byte before it is ended as incomplete. */
export const IDLE_MS = 1_000;

/** What to do with the input. `paste.bytes` is the content between the markers, markers excluded. */
export type PasteEvent =
  | { readonly type: 'input'; readonly bytes: Buffer }
  /** `leadSent`: leading bytes of the start marker already delivered as typing (a lone ESC read on its own). */
  | { readonly type: 'paste'; readonly bytes: Buffer; readonly leadSent: number }
  /** `size` and `sha256` cover the paste's content as far as it came (markers excluded), for the audit record. */
  | { readonly type: 'paste_refused'; readonly reason: 'too_large' | 'incomplete'; readonly size: number; readonly sha256: string };

/** Which timer the owner should have running: none, the short hold, or the paste's idle limit. */
export type PasteWait = 'none' | 'hold' | 'idle';

const TYPING = { kind: 'typing', held: Buffer.alloc(0), sent: 0 } as const;

type State =
  /** `held`: a possible marker start; its first `sent` bytes were already delivered (a lone ESC). */
  | { readonly kind: 'typing'; readonly held: Buffer; readonly sent: number }
  | { readonly kind: 'paste'; readonly parts: Buffer[]; readonly size: number; readonly leadSent: number }
  /** Past the bound: content is hashed and dropped; `tail` (could begin the end marker) is not hashed yet. */
  | { readonly kind: 'discard'; readonly hash: Hash; readonly tail: Buffer; readonly hashed: number };

export class PasteFilter {
  private state: State = TYPING;

  /** @param maxPasteBytes largest paste content buffered; a longer paste is refused (`too_large`). */
  constructor(private readonly maxPasteBytes: number) {}

  /** Which timer to (re)arm after the last push or timeout. */
  get waiting(): PasteWait {
    switch (this.state.kind) {
      case 'typing':
        return this.state.held.length > 0 ? 'hold' : 'none';
      case 'paste':
      case 'discard':
        return 'idle';
    }
  }

  /** Takes one read; returns the events it completes, in order. */
  push(chunk: Buffer): PasteEvent[] {
    const out: PasteEvent[] = [];
    let data = chunk;
    // Each pass consumes data up to a state change; a read holding several pastes loops.
    while (data.length > 0) data = this.step(data, out);
    return out;
  }

  /** No byte arrived for the time `waiting` asked: flush a held prefix, or end a paste as incomplete. */
  timeout(): PasteEvent[] {
    const s = this.state;
    this.state = TYPING;
    switch (s.kind) {
      case 'typing':
        return s.held.length > s.sent ? [{ type: 'input', bytes: s.held.subarray(s.sent) }] : [];
      case 'paste':
        return [{ type: 'paste_refused', reason: 'incomplete', size: s.size, sha256: sha256(s.parts) }];
      case 'discard':
        return [{ type: 'paste_refused', reason: 'too_large', size: s.hashed + s.tail.length, sha256: s.hash.update(s.tail).digest('hex') }];
    }
  }

  /** Consumes a prefix of DATA, appends events, returns what is left. */
  private step(chunk: Buffer, out: PasteEvent[]): Buffer {
    const s = this.state;
    switch (s.kind) {
      case 'typing': {
        const data = s.held.length > 0 ? Buffer.concat([s.held, chunk]) : chunk;
        const at = data.indexOf(PASTE_START);
        if (at >= 0) {
          if (at > s.sent) out.push({ type: 'input', bytes: data.subarray(s.sent, at) });
          this.state = { kind: 'paste', parts: [], size: 0, leadSent: Math.max(0, s.sent - at) };
          return data.subarray(at + PASTE_START.length);
        }
        if (s.held.length === 0 && data.length === 1 && data[0] === 0x1b) {
          // The Escape key on its own must not wait; it is still remembered
          // as a possible marker start, so "[200~" in the next read opens a paste.
          out.push({ type: 'input', bytes: Buffer.from(data) });
          this.state = { kind: 'typing', held: Buffer.from(data), sent: 1 };
          return Buffer.alloc(0);
        }
        const cut = data.length - markerPrefixAtEnd(data, PASTE_START);
        if (cut > s.sent) out.push({ type: 'input', bytes: data.subarray(s.sent, cut) });
        this.state = cut === data.length ? TYPING : { kind: 'typing', held: Buffer.from(data.subarray(cut)), sent: Math.max(0, s.sent - cut) };
        return Buffer.alloc(0);
      }
      case 'paste': {
        // An end marker may straddle reads: search the last marker-length-1 bytes seen plus this read.
        const carry = tailOf(s.parts, PASTE_END.length - 1);
        const window = Buffer.concat([carry, chunk]);
        const at = window.indexOf(PASTE_END);
        if (at >= 0) {
          // The marker began `carry.length - at` bytes back in what is already buffered (0 or more).
          const back = Math.max(0, carry.length - at);
          const before = Buffer.concat([...s.parts, chunk.subarray(0, Math.max(0, at - carry.length))]);
          const content = before.subarray(0, before.length - back);
          this.state = TYPING;
          out.push(content.length > this.maxPasteBytes ? { type: 'paste_refused', reason: 'too_large', size: content.length, sha256: sha256([content]) } : { type: 'paste', bytes: content, leadSent: s.leadSent });
          return chunk.subarray(at - carry.length + PASTE_END.length);
        }
        const size = s.size + chunk.length;
        // All but a possible partial end marker counts toward the limit.
        if (size - markerPrefixAtEnd(window, PASTE_END) > this.maxPasteBytes) {
          // Refused; reported when the paste ends, with the hash of all of it. Nothing more is kept.
          const all = Buffer.concat([...s.parts, chunk]);
          const pending = Math.min(all.length, PASTE_END.length - 1);
          const hash = createHash('sha256').update(all.subarray(0, all.length - pending));
          this.state = { kind: 'discard', hash, tail: Buffer.from(all.subarray(all.length - pending)), hashed: all.length - pending };
          return Buffer.alloc(0);
        }
        // Copied: the caller may reuse its read buffer.
        s.parts.push(Buffer.from(chunk));
        this.state = { kind: 'paste', parts: s.parts, size, leadSent: s.leadSent };
        return Buffer.alloc(0);
      }
      case 'discard': {
        const data = Buffer.concat([s.tail, chunk]);
        const at = data.indexOf(PASTE_END);
        if (at >= 0) {
          s.hash.update(data.subarray(0, at));
          out.push({ type: 'paste_refused', reason: 'too_large', size: s.hashed + at, sha256: s.hash.digest('hex') });
          this.state = TYPING;
          return data.subarray(at + PASTE_END.length);
        }
        const pending = Math.min(data.length, PASTE_END.length - 1);
        s.hash.update(data.subarray(0, data.length - pending));
        this.state = { kind: 'discard', hash: s.hash, tail: Buffer.from(data.subarray(data.length - pending)), hashed: s.hashed + data.length - pending };
        return Buffer.alloc(0);
      }
    }
  }
}

function sha256(parts: readonly Buffer[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

/** The last N bytes of PARTS taken as one buffer (parts may be shorter than N). */
function tailOf(parts: readonly Buffer[], n: number): Buffer {
  const picked: Buffer[] = [];
  let have = 0;
  for (let i = parts.length - 1; i >= 0 && have < n; i--) {
    const p = parts[i] as Buffer;
    const take = p.subarray(Math.max(0, p.length - (n - have)));
    picked.unshift(take);
    have += take.length;
  }
  return Buffer.concat(picked);
}

/** Length of the longest strict prefix of MARKER that DATA ends with (0 if none). */
function markerPrefixAtEnd(data: Buffer, marker: Buffer): number {
  for (let k = Math.min(marker.length - 1, data.length); k > 0; k--) {
    if (data.subarray(data.length - k).equals(marker.subarray(0, k))) return k;
  }
  return 0;
}
