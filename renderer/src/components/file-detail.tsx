/**
 * One changed file: its diff and its preview as two tabs, "Show in folder",
 * and a copy out through the gate (issue 18, item 4): "Save a copy"
 * downloads the bytes the gate passed (`files.take`, never the agent's file
 * itself); in the app the heading can also be dragged to the desktop, which
 * drags a copy the gate wrote.
 */
import { useId, useRef, useState, type DragEvent, type KeyboardEvent } from 'react';
import type { FileChangeView } from '../../../core/api/chat-contract.js';
import { useShell } from '../api-context.js';
import { FileDiff } from './file-diff.js';
import { FilePreview } from './file-preview.js';

type Tab = 'changes' | 'preview';
const TABS: readonly { readonly tab: Tab; readonly label: string }[] = [
  { tab: 'changes', label: 'Changes' },
  { tab: 'preview', label: 'Preview' },
];

/** A new file, or one that is not text, says more as a preview than as a diff. */
function firstTab(change: FileChangeView): Tab {
  return change.change === 'created' || (change.kind !== 'text' && change.kind !== 'markdown') ? 'preview' : 'changes';
}

export function FileDetail({ sessionId, change }: { readonly sessionId: string; readonly change: FileChangeView }) {
  const { api, announce } = useShell();
  const [tab, setTab] = useState<Tab>(() => firstTab(change));
  const tabRefs = useRef<Partial<Record<Tab, HTMLButtonElement | null>>>({});
  const id = useId();

  const [taken, setTaken] = useState<{ readonly ok: boolean; readonly text: string } | null>(null);
  // Only the app can drag a file to the desktop (webContents.startDrag); the preload's pathForFile marks it.
  const desktop = api.pathForFile !== undefined;

  const takeOut = async (as: 'download' | 'drag') => {
    const r = await api.call('files.take', { sessionId, workspace: change.workspace, path: change.path, as });
    if (!r.ok) {
      setTaken({ ok: false, text: `Not saved: ${r.error.message}` });
      return;
    }
    const o = r.value;
    if (o.outcome === 'refused') {
      setTaken({ ok: false, text: `Refused by the gate (${o.reason}): ${o.message}` });
      announce(`${change.path} was not let out: ${o.message}`, 'error');
      return;
    }
    if (o.outcome === 'download') {
      const bytes = Uint8Array.from(atob(o.content), (c) => c.charCodeAt(0));
      const url = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
      const a = document.createElement('a');
      a.href = url;
      a.download = o.name;
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    }
    setTaken({ ok: true, text: o.redacted ? `Saved a redacted copy: ${o.message}` : `Saved a copy (${o.message})` });
  };

  const onDragStart = (e: DragEvent) => {
    // The app drags the gate's copy, not this element; a browser has no such drag.
    e.preventDefault();
    void takeOut('drag');
  };

  const reveal = async () => {
    const r = await api.call('files.reveal', { sessionId, workspace: change.workspace, path: change.path });
    if (!r.ok) announce(`Could not show ${change.path} in its folder: ${r.error.message}`, 'error');
  };

  // The WAI-ARIA tabs pattern: arrow keys move between tabs (and select), Tab moves into the panel.
  const onTabKey = (e: KeyboardEvent) => {
    if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight' && e.key !== 'Home' && e.key !== 'End') return;
    e.preventDefault();
    const i = TABS.findIndex((t) => t.tab === tab);
    const next = e.key === 'Home' ? 0 : e.key === 'End' ? TABS.length - 1 : (i + (e.key === 'ArrowRight' ? 1 : TABS.length - 1)) % TABS.length;
    const t = TABS[next]?.tab ?? 'changes';
    setTab(t);
    tabRefs.current[t]?.focus();
  };

  return (
    <div className="file-detail" data-testid="file-detail">
      <div className="file-detail-head">
        <h3 className="mono file-detail-path" draggable={desktop && change.change !== 'deleted'} onDragStart={desktop ? onDragStart : undefined} title={desktop ? 'Drag to the desktop: a copy through the gate' : undefined}>
          {change.path}
        </h3>
        {change.change !== 'deleted' && (
          <>
            <button type="button" className="btn btn-secondary" onClick={() => void takeOut('download')} data-testid="take-download">
              Save a copy
            </button>
            <button type="button" className="btn btn-secondary" onClick={() => void reveal()}>
              Show in folder
            </button>
          </>
        )}
      </div>
      {taken !== null && (
        <p className={`small ${taken.ok ? '' : 'error'}`} data-testid="take-outcome">
          {taken.text}
        </p>
      )}
      <div role="tablist" aria-label={`${change.path}: changes or preview`} className="tabs" onKeyDown={onTabKey}>
        {TABS.map((t) => (
          <button
            key={t.tab}
            ref={(el) => {
              tabRefs.current[t.tab] = el;
            }}
            type="button"
            role="tab"
            id={`${id}-${t.tab}-tab`}
            aria-selected={tab === t.tab}
            aria-controls={`${id}-${t.tab}-panel`}
            tabIndex={tab === t.tab ? 0 : -1}
            className="tab"
            onClick={() => setTab(t.tab)}
          >
            {t.label}
          </button>
        ))}
      </div>
      {/* Only the shown panel is in the DOM, so only its data is fetched. */}
      <div role="tabpanel" id={`${id}-${tab}-panel`} aria-labelledby={`${id}-${tab}-tab`} className="tab-panel" tabIndex={0}>
        {tab === 'changes' ? <FileDiff sessionId={sessionId} change={change} /> : <FilePreview sessionId={sessionId} change={change} />}
      </div>
    </div>
  );
}
