/**
 * Files dropped on a running session's screen (terminal or chat) go into
 * its cordon-inbox through the gate, one `files.drop` call per file, as
 * `cordon drop` would copy them (issue 18, item 4). In the app the preload
 * gives each file's host path; in a browser there is none, and the file's
 * bytes are sent instead, up to the contract's bound (larger files are
 * refused here before a byte is read: docs/threat-model-gate.md G19).
 *
 * Each file's outcome is listed by name, never with its content: arrived,
 * arrived redacted (detector names and counts), refused (the gate's
 * reason), or waiting for an answer in the approval queue.
 */
import { useCallback, useEffect, useRef, useState, type DragEvent, type ReactNode } from 'react';
import { DROP_CONTENT_MAX_BYTES, DROP_MAX_FILES, dropNameProblem, type DropOutcomeView } from '../../../core/api/transfer-contract.js';
import { useApiEvents, useShell } from '../api-context.js';

type Status = 'checking' | 'waiting' | DropOutcomeView['outcome'];

interface DropEntry {
  readonly key: number;
  readonly name: string;
  readonly status: Status;
  readonly text: string;
}

const KEEP = 20;

/** Base64 of BYTES, in slices (a 720 KiB spread into String.fromCharCode would overflow the stack). */
function base64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function outcomeText(o: DropOutcomeView): string {
  switch (o.outcome) {
    case 'arrived':
      return `Now at ${o.sandboxPath ?? ''} in the sandbox`;
    case 'redacted':
      return `Redacted: ${o.findings.map((f) => `${f.detector} ×${f.count}`).join(', ')}. Now at ${o.sandboxPath ?? ''} in the sandbox`;
    case 'refused':
      return `${o.message} (${o.reason})`;
  }
}

const STATUS_LABEL: Readonly<Record<Status, string>> = {
  checking: 'Checking',
  waiting: 'Waiting for approval',
  arrived: 'Arrived',
  redacted: 'Arrived redacted',
  refused: 'Refused',
};

/** NAME for display: control and text-direction characters shown as U+FFFD, so a name cannot repaint the list (G18). */
// eslint-disable-next-line no-control-regex -- these are the characters being neutralised
const shownName = (name: string): string => name.replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu, '\ufffd');

/** True when a drag carries files (not text or a link dragged from the page). */
const carriesFiles = (e: DragEvent): boolean => Array.from(e.dataTransfer.types).includes('Files');

export function SessionDropZone({ sessionId, running, children }: { readonly sessionId: string; readonly running: boolean; readonly children: ReactNode }) {
  const { api, announce } = useShell();
  const [over, setOver] = useState(false);
  const [entries, setEntries] = useState<readonly DropEntry[]>([]);
  const next = useRef(0);
  const depth = useRef(0);

  const update = useCallback((key: number, status: Status, text: string) => {
    setEntries((list) => list.map((e) => (e.key === key ? { ...e, status, text } : e)));
  }, []);

  // A file dropped beside the zone (the navigation, say) would make the browser open it in place of the UI.
  useEffect(() => {
    const keep = (e: globalThis.DragEvent): void => {
      if (e.dataTransfer?.types.includes('Files') === true) e.preventDefault();
    };
    window.addEventListener('dragover', keep);
    window.addEventListener('drop', keep);
    return () => {
      window.removeEventListener('dragover', keep);
      window.removeEventListener('drop', keep);
    };
  }, []);

  // A file the gate asks about waits in the approval queue; the prompt shows it. Pending entries say so.
  useApiEvents((e) => {
    if (e.type !== 'approvals.changed' || e.sessionId !== sessionId) return;
    setEntries((list) =>
      list.map((x) =>
        e.change === 'request' && x.status === 'checking' ? { ...x, status: 'waiting', text: 'Waiting for your answer in the approval prompt' } : e.change !== 'request' && x.status === 'waiting' ? { ...x, status: 'checking', text: 'Checking…' } : x,
      ),
    );
  });

  const sendOne = async (file: File, key: number): Promise<void> => {
    // The app: the preload reads the path from the drop; core reads the file under the mount rules.
    const path = api.pathForFile?.(file) ?? '';
    let request: { name: string; content: string } | { path: string };
    if (path !== '') request = { path };
    else {
      const bad = dropNameProblem(file.name);
      if (bad !== null) return update(key, 'refused', `${bad} (bad_name)`);
      if (file.size > DROP_CONTENT_MAX_BYTES) {
        return update(key, 'refused', `${file.size.toLocaleString('en-US')} bytes; the browser UI carries files up to ${DROP_CONTENT_MAX_BYTES.toLocaleString('en-US')} bytes. Use \`cordon drop ${sessionId} FILE\` or the Cordon app. (too_large)`);
      }
      request = { name: file.name, content: base64(new Uint8Array(await file.arrayBuffer())) };
    }
    const r = await api.call('files.drop', { sessionId, file: request });
    if (!r.ok) return update(key, 'refused', r.error.message);
    update(key, r.value.outcome, outcomeText(r.value));
  };

  const onDrop = async (e: DragEvent<HTMLDivElement>): Promise<void> => {
    if (!carriesFiles(e)) return;
    e.preventDefault();
    depth.current = 0;
    setOver(false);
    // The session this screen shows, captured now: a screen that changes later does not redirect the drop (G20).
    if (!running) {
      announce(`Session ${sessionId} is not running: nothing was copied.`, 'error');
      return;
    }
    const files = Array.from(e.dataTransfer.files);
    const added = files.map((f, i): DropEntry => ({
      key: next.current++,
      name: shownName(f.name),
      status: i < DROP_MAX_FILES ? 'checking' : 'refused',
      text: i < DROP_MAX_FILES ? 'Checking…' : `at most ${DROP_MAX_FILES} files per drop`,
    }));
    setEntries((list) => [...added, ...list].slice(0, KEEP));
    // One after another: the gate may ask about one while the next waits.
    for (const [i, f] of files.slice(0, DROP_MAX_FILES).entries()) {
      const key = added[i]?.key;
      if (key !== undefined) await sendOne(f, key).catch((err: unknown) => update(key, 'refused', (err as Error).message));
    }
    announce(`${files.length === 1 ? 'The dropped file was' : `${files.length} dropped files were`} checked by the gate: see the list under the heading.`);
  };

  return (
    <div
      className={`drop-zone${over ? ' drop-zone-over' : ''}`}
      data-testid="session-drop-zone"
      onDragEnter={(e) => {
        if (!carriesFiles(e) || !running) return;
        depth.current++;
        setOver(true);
      }}
      onDragLeave={(e) => {
        if (!carriesFiles(e)) return;
        depth.current = Math.max(0, depth.current - 1);
        if (depth.current === 0) setOver(false);
      }}
      onDragOver={(e) => {
        // Accepting the drag here also stops the browser from opening a file dropped on the page.
        if (!carriesFiles(e)) return;
        e.preventDefault();
        e.dataTransfer.dropEffect = running ? 'copy' : 'none';
      }}
      onDrop={(e) => void onDrop(e)}
    >
      {over && (
        <div className="drop-overlay" aria-hidden="true">
          {/* One block: as flex items, the words either side of the id would lose their spaces. */}
          <p>
            Drop files to copy them into session <span className="mono">{sessionId}</span>’s cordon-inbox. The gate checks each one first.
          </p>
        </div>
      )}
      {children}
      {entries.length > 0 && (
        <section className="card drop-outcomes" aria-label="Dropped files">
          <h2>
            Dropped into session <span className="mono">{sessionId}</span>
          </h2>
          <ul data-testid="drop-outcomes">
            {entries.map((x) => (
              <li key={x.key} data-status={x.status} data-testid="drop-outcome">
                <span className={`pill drop-${x.status}`}>{STATUS_LABEL[x.status]}</span> <span className="mono">{x.name}</span>
                <div className="small drop-outcome-text">{x.text}</div>
              </li>
            ))}
          </ul>
          <button type="button" className="btn btn-secondary" onClick={() => setEntries([])}>
            Clear list
          </button>
        </section>
      )}
    </div>
  );
}
