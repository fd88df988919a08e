/** One changed file: its diff and its preview as two tabs, and "Show in folder". */
import { useId, useRef, useState, type KeyboardEvent } from 'react';
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
        <h3 className="mono file-detail-path">{change.path}</h3>
        {change.change !== 'deleted' && (
          <button type="button" className="btn btn-secondary" onClick={() => void reveal()}>
            Show in folder
          </button>
        )}
      </div>
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
