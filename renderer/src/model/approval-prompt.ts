/**
 * What the app's approval prompt shows and which keys answer it (issue 17,
 * item 5): pure, so the rules that keep a person from answering by accident
 * are unit-tested without a page. See docs/threat-model-app.md, items 20-21.
 */
import type { ApprovalAnswerRequest, ApprovalView } from '../../../core/api/approvals-contract.js';

/** The answers the prompt offers, in the order shown. */
export type PromptAnswer = 'deny' | 'once' | 'hour' | 'end-of-day' | 'always';

/** What a key does while focus is inside the prompt. */
export type PromptKeyAction = PromptAnswer | 'toggle-write' | 'leave';

export interface AnswerOption {
  readonly answer: PromptAnswer;
  readonly label: string;
  /** The single key that gives it, as printed on the button. */
  readonly key: string;
  /** Why it cannot be given now, or null when it can. */
  readonly unavailable: string | null;
}

/** Requests waiting for a person, oldest first; one whose time is up is left out even before its timeout answer lands. */
export function pendingQueue(requests: readonly ApprovalView[], now: number): ApprovalView[] {
  return requests
    .filter((r) => r.status === 'pending' && Date.parse(r.expiresAt) > now)
    .sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt) || (a.id < b.id ? -1 : 1));
}

const HOUR_MS = 3_600_000;

/** Requests settled in the last hour, newest first. */
export function recentSettled(requests: readonly ApprovalView[], now: number): ApprovalView[] {
  const at = (r: ApprovalView): number => Date.parse(r.answer?.at ?? r.expiresAt);
  return requests.filter((r) => r.status !== 'pending' && now - at(r) <= HOUR_MS).sort((a, b) => at(b) - at(a));
}

/** Time before an unanswered request is denied: "42 s", "1 min 05 s"; `urgent` in the last 10 s. */
export function timeLeft(expiresAt: string, now: number): { readonly ms: number; readonly text: string; readonly urgent: boolean } {
  const ms = Math.max(0, Date.parse(expiresAt) - now);
  if (Number.isNaN(ms)) return { ms: 0, text: 'unknown', urgent: true };
  const s = Math.ceil(ms / 1000);
  const text = s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return { ms, text, urgent: s <= 10 };
}

/** Every answer with its key; "always" carries core's reason when it is not available. */
export function answerOptions(req: ApprovalView): AnswerOption[] {
  return [
    { answer: 'deny', label: 'Deny', key: 'D', unavailable: null },
    { answer: 'once', label: 'Allow once', key: 'O', unavailable: null },
    { answer: 'hour', label: 'Allow for 1 hour', key: 'H', unavailable: null },
    { answer: 'end-of-day', label: 'Allow until end of day', key: 'E', unavailable: null },
    { answer: 'always', label: 'Always allow', key: 'A', unavailable: req.alwaysUnavailable },
  ];
}

/** The call for ANSWER on REQ; write only where the request asked for it and the user ticked it. */
export function answerRequest(req: ApprovalView, answer: PromptAnswer, withWrite: boolean): ApprovalAnswerRequest {
  const w = req.write && withWrite ? { write: true } : {};
  switch (answer) {
    case 'deny':
      return { id: req.id, decision: 'deny' };
    case 'once':
      return { id: req.id, decision: 'allow', scope: 'once', ...w };
    case 'hour':
      return { id: req.id, decision: 'allow', scope: 'duration', for: '1h', ...w };
    case 'end-of-day':
      return { id: req.id, decision: 'allow', scope: 'duration', for: 'end-of-day', ...w };
    case 'always':
      return { id: req.id, decision: 'allow', scope: 'always', ...w };
  }
}

/** The modifier state of a key event, as the DOM reports it. */
export interface KeyPress {
  readonly key: string;
  readonly code: string;
  readonly altKey: boolean;
  readonly ctrlKey: boolean;
  readonly metaKey: boolean;
  readonly shiftKey: boolean;
}

const KEY_ACTIONS: Readonly<Record<string, PromptKeyAction>> = {
  d: 'deny',
  o: 'once',
  h: 'hour',
  e: 'end-of-day',
  a: 'always',
  w: 'toggle-write',
  escape: 'leave',
};

/**
 * The prompt's single keys (D, O, H, E, A, W; Escape leaves without
 * answering). Any key with Ctrl, Alt or Meta is not an answer: those are the
 * browser's and the desktop's shortcuts. Enter and Space are left to the
 * focused button, so a stray Enter never answers with a default.
 */
export function keyAction(e: KeyPress): PromptKeyAction | null {
  if (e.altKey || e.ctrlKey || e.metaKey) return null;
  const k = e.key.toLowerCase();
  return Object.hasOwn(KEY_ACTIONS, k) ? (KEY_ACTIONS[k] ?? null) : null;
}

/**
 * Answer keys are ignored for this long after a request is first shown: a
 * person pressing O twice to answer one request must not answer the next one
 * that slides into its place.
 */
export const ANSWER_GUARD_MS = 600;

/** Whether answer keys act on a request shown at SHOWNAT (ms), at NOW. */
export function keysArmed(shownAt: number, now: number): boolean {
  return now - shownAt >= ANSWER_GUARD_MS;
}

/** The shortcut that moves focus into the prompt from anywhere, the terminal included. */
export const PROMPT_SHORTCUT_LABEL = 'Alt+Shift+A';

/** Alt+Shift+A, by physical key: with Alt held, `key` varies by layout and platform (macOS gives "Å"). */
export function isPromptShortcut(e: KeyPress): boolean {
  return e.altKey && e.shiftKey && !e.ctrlKey && !e.metaKey && e.code === 'KeyA';
}

/** Where focus is when a request arrives: the element's tag, or null when no element has it. */
export interface FocusSpot {
  readonly tag: string;
  readonly editable: boolean;
}

/**
 * Whether a newly arrived request may take focus: only when nothing has it
 * (the page's body). Focus in a field, the terminal, a button or a heading
 * means the person is doing something; the prompt then appears and is
 * announced, and the shortcut brings them to it.
 */
export function mayTakeFocus(active: FocusSpot | null): boolean {
  return active === null || (active.tag.toUpperCase() === 'BODY' && !active.editable);
}

/**
 * Text from the sandbox side made safe to read: control characters (a
 * terminal's escape sequences) and the invisible bidirectional controls that
 * make text read backwards ("gpj.exe" shown as "exe.jpg") become "?".
 */
export function visibleText(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '?');
}

export interface TargetFact {
  readonly label: string;
  readonly value: string;
}

/**
 * The facts Cordon established about what is asked for, shown above the
 * agent's reason: for a network request the host and port (the proxy's
 * normalised form) and the address they resolved to; for a file request the
 * path, how Cordon classifies it, whether the grant is live or a read-only
 * copy, and where the sandbox sees it.
 */
export function targetFacts(req: ApprovalView): TargetFact[] {
  const facts: TargetFact[] = [];
  const d = (k: string): string | undefined => (Object.hasOwn(req.detail, k) ? req.detail[k] : undefined);
  if (req.kind === 'network') {
    const m = /^(.*):(\d{1,5})$/.exec(req.target);
    facts.push({ label: 'Host', value: visibleText(m?.[1] ?? req.target) });
    if (m?.[2] !== undefined) facts.push({ label: 'Port', value: m[2] });
    const address = d('address');
    facts.push({ label: 'Resolved address', value: address === undefined ? 'not resolved' : visibleText(address) });
  } else {
    facts.push({ label: req.kind === 'file' ? 'Path' : 'Target', value: visibleText(req.target) });
    const classification = d('classification');
    if (classification !== undefined) facts.push({ label: 'Cordon classifies it as', value: visibleText(classification) });
  }
  facts.push({ label: 'Access', value: req.write ? 'read and write' : 'read only' });
  if (req.kind === 'file') {
    const mechanism = d('mechanism');
    const grant =
      mechanism === 'copy'
        ? 'a read-only snapshot: changes are not written back'
        : mechanism === 'live'
          ? 'live: the sandbox sees the folder itself'
          : mechanism === undefined
            ? 'not stated'
            : visibleText(mechanism);
    facts.push({ label: 'Grant', value: grant });
    const sandboxPath = d('sandboxPath');
    if (sandboxPath !== undefined) facts.push({ label: 'Seen in the sandbox at', value: visibleText(sandboxPath) });
  }
  return facts;
}

const KIND_WORDS: Readonly<Record<ApprovalView['kind'], string>> = {
  network: 'network access',
  file: 'file access',
  clipboard: 'clipboard access',
  'file-transfer': 'a file transfer',
};

/** "network access", "file access" … for headings and announcements. */
export function kindWords(kind: ApprovalView['kind']): string {
  return KIND_WORDS[kind];
}

/** A settled request's outcome as the recent list shows it: what, and who decided. */
export function settledSummary(r: ApprovalView): string {
  const a = r.answer;
  if (a === null) return 'Expired: nobody answered in time';
  if (a.decision === 'deny') {
    switch (a.by) {
      case 'timeout':
        return 'Denied: nobody answered in time';
      case 'rate_limit':
        return 'Denied: too many requests';
      case 'session_ended':
        return 'Denied: the session ended';
      case 'user':
        return 'Denied by the user';
      case 'policy':
        return 'Denied by policy';
    }
  }
  const scope = a.scope === 'always' ? 'always' : a.scope === 'duration' ? `until ${a.until === null ? '?' : new Date(a.until).toLocaleTimeString()}` : 'once';
  return `Allowed ${scope}${a.write ? ' with write' : ''} by ${a.by === 'user' ? 'the user' : a.by}`;
}

/** A session id as the UI shows it (core writes 12 hex digits; longer ids are cut). */
export function shortSession(id: string): string {
  return visibleText(id.slice(0, 12));
}
