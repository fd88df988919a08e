/**
 * The app-wide approval prompt (issue 17, item 5): the oldest request waiting
 * for the user, one at a time, on every screen. Mounted once in the shell.
 *
 * It never takes focus from someone who is doing something (threat model,
 * item 20): a request that arrives while focus is in a field, the terminal or
 * anywhere but the page body appears and is announced in the shell's live
 * region; Alt+Shift+A brings focus in. Single keys answer only while focus
 * is inside the prompt, only once it has been shown for a moment, and never
 * from a held-down key. Escape leaves without answering. The agent's reason
 * is plain text, marked as its words, below the facts Cordon established.
 */
import { Fragment, useCallback, useEffect, useId, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import { useShell } from '../api-context.js';
import {
  ANSWER_GUARD_MS,
  answerOptions,
  answerRequest,
  isPromptShortcut,
  keyAction,
  keysArmed,
  kindWords,
  mayTakeFocus,
  pendingQueue,
  PROMPT_SHORTCUT_LABEL,
  settledSummary,
  shortSession,
  targetFacts,
  timeLeft,
  visibleText,
  type PromptAnswer,
} from '../model/approval-prompt.js';
import { useApprovals } from './use-approvals.js';
import { useNow } from './use-now.js';

export function ApprovalPrompt() {
  const { api, announce } = useShell();
  const approvals = useApprovals();
  const now = useNow(1000);
  // Answered here: hidden at once, before the refetch confirms it.
  const [answered, setAnswered] = useState<ReadonlySet<string>>(() => new Set());
  const queue = useMemo(() => pendingQueue(approvals.requests ?? [], now).filter((r) => !answered.has(r.id)), [approvals.requests, now, answered]);
  const head = queue[0] ?? null;
  const id = useId();
  const section = useRef<HTMLElement>(null);
  /** Where focus was when the shortcut brought it here: it goes back there after an answer or Escape. */
  const returnTo = useRef<HTMLElement | null>(null);
  const shown = useRef<{ id: string; at: number } | null>(null);
  const busy = useRef(false);
  const [withWrite, setWithWrite] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const [armed, setArmed] = useState(false);

  const headRef = useRef(head);
  useEffect(() => {
    headRef.current = head;
  });
  const headId = head?.id ?? null;

  // A new request at the head (by id: the list is refetched, the request is the same): announce it; take focus only from the page body.
  useEffect(() => {
    const head = headRef.current;
    if (head === null) {
      shown.current = null;
      return;
    }
    if (shown.current?.id !== head.id) {
      shown.current = { id: head.id, at: Date.now() };
      setWithWrite(false);
      setProblem(null);
      setArmed(false);
      const active = document.activeElement;
      const inPrompt = active !== null && section.current?.contains(active) === true;
      const take = !inPrompt && mayTakeFocus(active === null ? null : { tag: active.tagName, editable: active instanceof HTMLElement && active.isContentEditable });
      const what = `Session ${shortSession(head.session)} asks for ${kindWords(head.kind)} to ${visibleText(head.target)}.`;
      announce(take || inPrompt ? `${what} Answer with D, O, H, E or A.` : `${what} Press ${PROMPT_SHORTCUT_LABEL} to answer.`);
      if (take) {
        returnTo.current = null;
        section.current?.focus();
      }
    }
    // Shown for the keys' guard time: say so (the page and tests can see when keys start to count).
    const arm = setTimeout(() => setArmed(true), Math.max(0, ANSWER_GUARD_MS - (Date.now() - shown.current.at)));
    return () => clearTimeout(arm);
  }, [headId, announce]);

  // The shortcut works from anywhere, the terminal included: capture phase, before xterm sees the key.
  useEffect(() => {
    const onKey = (e: globalThis.KeyboardEvent): void => {
      if (!isPromptShortcut(e) || headRef.current === null) return;
      e.preventDefault();
      e.stopPropagation();
      const active = document.activeElement;
      if (!(active !== null && section.current?.contains(active))) returnTo.current = active instanceof HTMLElement && active !== document.body ? active : null;
      section.current?.focus();
    };
    window.addEventListener('keydown', onKey, true);
    return () => window.removeEventListener('keydown', onKey, true);
  }, []);

  const goBack = useCallback(() => {
    const back = returnTo.current;
    returnTo.current = null;
    if (back?.isConnected === true) back.focus();
  }, []);

  const give = useCallback(
    async (answer: PromptAnswer) => {
      if (head === null || busy.current) return;
      const option = answerOptions(head).find((o) => o.answer === answer);
      if (option?.unavailable != null) {
        setProblem(option.unavailable);
        return;
      }
      busy.current = true;
      const r = await api.call('approvals.answer', answerRequest(head, answer, withWrite));
      busy.current = false;
      approvals.refetch();
      if (!r.ok) {
        setProblem(r.error.message);
        return;
      }
      setAnswered((prev) => new Set([...prev, head.id]));
      announce(`${settledSummary(r.value)}: ${kindWords(head.kind)} to ${visibleText(head.target)}.`);
      goBack();
    },
    [api, head, withWrite, approvals, announce, goBack],
  );

  if (head === null) return null;

  const onKeyDown = (e: KeyboardEvent<HTMLElement>): void => {
    const action = keyAction(e);
    if (action === null) return;
    e.preventDefault();
    e.stopPropagation();
    if (action === 'leave') {
      announce('Not answered: the request is still waiting.');
      if (returnTo.current !== null) goBack();
      else section.current?.blur();
      return;
    }
    // A held key repeats; a key pressed as the request slid in was meant for the one before.
    if (e.repeat || shown.current === null || !keysArmed(shown.current.at, Date.now())) return;
    if (action === 'toggle-write') {
      if (head.write) setWithWrite((w) => !w);
      return;
    }
    void give(action);
  };

  const left = timeLeft(head.expiresAt, now);
  const options = answerOptions(head);
  const alwaysWhy = options.find((o) => o.answer === 'always')?.unavailable ?? null;
  return (
    <section
      ref={section}
      className="approval-prompt"
      tabIndex={-1}
      aria-labelledby={`${id}-title`}
      aria-describedby={`${id}-keys`}
      data-testid="approval-prompt"
      data-request-id={head.id}
      data-armed={armed ? 'true' : 'false'}
      onKeyDown={onKeyDown}
    >
      <div className="approval-head">
        <h2 id={`${id}-title`}>
          Session <span className="mono">{shortSession(head.session)}</span> asks for {kindWords(head.kind)}
        </h2>
        {queue.length > 1 && (
          <span className="pill pill-warn" data-testid="approval-waiting">
            {queue.length - 1} more waiting
          </span>
        )}
      </div>
      <dl className="approval-facts">
        <dt>Kind</dt>
        <dd>{head.kind}</dd>
        {targetFacts(head).map((f) => (
          <Fragment key={f.label}>
            <dt>{f.label}</dt>
            <dd className="mono">{f.value}</dd>
          </Fragment>
        ))}
      </dl>
      <figure className="approval-reason">
        {/* A clipboard or file transfer is asked about by Cordon's gate, not by the agent; names in its words may still come from the sandbox. */}
        <figcaption>{head.kind === 'file-transfer' || head.kind === 'clipboard' ? "Why Cordon's gate asks (file names in it are not checked):" : "The agent's own words (not checked by Cordon):"}</figcaption>
        <p data-testid="approval-reason">{head.reason === null ? <em>No reason given.</em> : visibleText(head.reason)}</p>
      </figure>
      <p className={left.urgent ? 'approval-time urgent' : 'approval-time'}>
        Denied automatically in <strong>{left.text}</strong> if not answered.
      </p>
      {head.write && (
        <label className="approval-write">
          <input type="checkbox" checked={withWrite} onChange={(e) => setWithWrite(e.target.checked)} /> Also allow writing <kbd>W</kbd>
        </label>
      )}
      <div className="approval-actions">
        {options.map((o) => (
          <button
            key={o.answer}
            type="button"
            className={o.answer === 'deny' ? 'btn btn-danger' : o.answer === 'once' ? 'btn' : 'btn btn-secondary'}
            disabled={o.unavailable !== null}
            aria-describedby={o.unavailable !== null ? `${id}-always` : undefined}
            aria-keyshortcuts={o.key}
            onClick={() => void give(o.answer)}
          >
            {o.label} <kbd>{o.key}</kbd>
          </button>
        ))}
      </div>
      {alwaysWhy !== null && (
        <p id={`${id}-always`} className="muted small">
          Always is not available: {alwaysWhy}
        </p>
      )}
      {problem !== null && (
        <p role="alert" className="error">
          {problem}
        </p>
      )}
      <p id={`${id}-keys`} className="muted small">
        {PROMPT_SHORTCUT_LABEL} brings the keyboard here; then D, O, H, E, A{head.write ? ', W' : ''} answer. Esc leaves without answering.
      </p>
    </section>
  );
}
