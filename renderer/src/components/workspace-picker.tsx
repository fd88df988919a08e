import { useEffect, useId, useState } from 'react';
import type { Workspace } from '../../../core/api/cordon-api.js';
import { useShell } from '../api-context.js';

/** A workspace folder typed as an absolute path, or picked from the recent ones, and its mode. */
export function WorkspacePicker({ value, onChange }: { readonly value: Workspace; readonly onChange: (w: Workspace) => void }) {
  const { api } = useShell();
  const [recent, setRecent] = useState<readonly Workspace[]>([]);
  const id = useId();
  useEffect(() => {
    let live = true;
    void api.call('recent.workspaces', {}).then((r) => {
      if (live && r.ok) setRecent(r.value);
    });
    return () => {
      live = false;
    };
  }, [api]);
  return (
    <fieldset className="group">
      <legend>Workspace</legend>
      <label htmlFor={`${id}-path`}>Workspace folder (absolute path)</label>
      <input id={`${id}-path`} type="text" className="input wide" spellCheck={false} autoComplete="off" placeholder="/home/you/project" value={value.path} onChange={(e) => onChange({ ...value, path: e.target.value })} />
      {recent.length > 0 && (
        <div className="recent">
          <span id={`${id}-recent`}>Recent workspaces:</span>
          <ul aria-labelledby={`${id}-recent`} className="chips">
            {recent.map((w) => (
              <li key={`${w.path}:${w.mode}`}>
                <button type="button" className="chip" onClick={() => onChange(w)}>
                  {w.path} <span className="muted">({w.mode === 'rw' ? 'read-write' : 'read-only'})</span>
                </button>
              </li>
            ))}
          </ul>
        </div>
      )}
      <fieldset className="radios">
        <legend>Mode</legend>
        <label>
          <input type="radio" name={`${id}-mode`} value="rw" checked={value.mode === 'rw'} onChange={() => onChange({ ...value, mode: 'rw' })} /> Read-write
        </label>
        <label>
          <input type="radio" name={`${id}-mode`} value="ro" checked={value.mode === 'ro'} onChange={() => onChange({ ...value, mode: 'ro' })} /> Read-only
        </label>
      </fieldset>
    </fieldset>
  );
}
