/**
 * First run, and "Setup" later: doctor checks, the API key, a workspace, a
 * profile, then Launch. The key is typed into a password field, sent once with
 * keys.set and cleared from the field; only its status comes back.
 */
import { useCallback, useEffect, useId, useState, type FormEvent } from 'react';
import type { ApiResponse, DoctorCheck, KeyStatusView, Workspace } from '../../../core/api/cordon-api.js';
import { useShell } from '../api-context.js';
import { ScreenHeading } from '../components/screen-heading.js';
import { WorkspacePicker } from '../components/workspace-picker.js';
import type { SessionMode } from '../model/session-mode.js';

type Profiles = ApiResponse<'profiles.list'>;

const SESSION_MODES: readonly { readonly mode: SessionMode; readonly label: string; readonly detail: string }[] = [
  { mode: 'chat', label: 'Conversation (recommended)', detail: 'Ask for what you need in plain words, and see every file the agent changes.' },
  { mode: 'terminal', label: 'Terminal (for developers)', detail: 'The agent’s own command-line interface.' },
];

export function SetupScreen({ onLaunched }: { readonly onLaunched: (sessionId: string, mode: SessionMode) => void }) {
  const { api, features, announce } = useShell();
  const [checks, setChecks] = useState<readonly DoctorCheck[] | null>(null);
  const [doctorError, setDoctorError] = useState<string | null>(null);
  const [keys, setKeys] = useState<readonly KeyStatusView[]>([]);
  const [profiles, setProfiles] = useState<Profiles>([]);
  const [profile, setProfile] = useState('');
  const [workspace, setWorkspace] = useState<Workspace>({ path: '', mode: 'rw' });
  // A conversation by default: most people who launch an agent here are not developers (issue 16).
  const [mode, setMode] = useState<SessionMode>('chat');
  const [launchError, setLaunchError] = useState<string | null>(null);
  const [launching, setLaunching] = useState(false);
  const id = useId();

  const runDoctor = useCallback(async () => {
    setChecks(null);
    const r = await api.call('doctor.run', {});
    if (r.ok) {
      setChecks(r.value.checks);
      setDoctorError(null);
    } else setDoctorError(r.error.message);
  }, [api]);

  const loadKeys = useCallback(async () => {
    const r = await api.call('keys.status', {});
    if (r.ok) setKeys(r.value);
  }, [api]);

  useEffect(() => {
    void runDoctor();
    void loadKeys();
    void api.call('profiles.list', {}).then((r) => {
      if (!r.ok) return;
      setProfiles(r.value);
      const first = r.value.find((p) => p.allowed);
      if (first !== undefined) setProfile((cur) => cur || first.name);
    });
  }, [api, runDoctor, loadKeys]);

  const launch = async (e: FormEvent) => {
    e.preventDefault();
    setLaunching(true);
    setLaunchError(null);
    const launchedMode = mode;
    const r = await api.call('sessions.launch', { workspaces: [workspace], mode: launchedMode, ...(profile ? { profile } : {}) });
    setLaunching(false);
    if (r.ok) {
      announce(`Session ${r.value.sessionId} started.`);
      onLaunched(r.value.sessionId, launchedMode);
    } else {
      setLaunchError(r.error.message);
      announce(`Launch failed: ${r.error.message}`, 'error');
    }
  };

  const anthropic = keys.find((k) => k.provider === 'anthropic');
  return (
    <>
      <ScreenHeading>Set up Cordon</ScreenHeading>
      <section aria-labelledby={`${id}-doctor`} className="card">
        <div className="card-head">
          <h2 id={`${id}-doctor`}>System checks</h2>
          <button type="button" className="btn btn-secondary" onClick={() => void runDoctor()}>
            Run checks again
          </button>
        </div>
        {doctorError !== null && <p role="alert" className="error">{doctorError}</p>}
        {checks === null && doctorError === null && <p aria-busy="true">Running checks…</p>}
        {checks !== null && (
          <ul className="checks">
            {checks.map((c) => (
              <li key={c.check} className={`check check-${c.status}`}>
                <span className={`pill pill-${c.status}`}>{c.status === 'ok' ? 'OK' : c.status === 'warn' ? 'Warning' : 'Failed'}</span>
                <span className="check-name">{c.check}</span>
                <span className="check-detail">{c.detail}</span>
                {c.fix !== undefined && c.status !== 'ok' && <span className="check-fix">Fix: {c.fix}</span>}
              </li>
            ))}
          </ul>
        )}
      </section>

      <section aria-labelledby={`${id}-key`} className="card">
        <h2 id={`${id}-key`}>Your API key</h2>
        <p className="muted">
          {anthropic?.state === 'present' ? 'A key is stored in your system keychain.' : 'No key is stored yet.'} The key goes to the OS keychain and never into the sandbox; it is not shown again.
        </p>
        <KeyForm provider="anthropic" mode={anthropic?.state === 'present' ? 'rotate' : 'set'} onDone={() => void loadKeys()} />
      </section>

      {features.launch ? (
        <form className="card" aria-labelledby={`${id}-launch`} onSubmit={(e) => void launch(e)}>
          <h2 id={`${id}-launch`}>Launch an agent</h2>
          <WorkspacePicker value={workspace} onChange={setWorkspace} />
          <fieldset className="group">
            <legend>How do you want to work?</legend>
            {SESSION_MODES.map((m) => (
              <div key={m.mode} className="choice">
                <input
                  type="radio"
                  id={`${id}-mode-${m.mode}`}
                  name={`${id}-session-mode`}
                  value={m.mode}
                  required
                  checked={mode === m.mode}
                  onChange={() => setMode(m.mode)}
                  aria-describedby={`${id}-mode-${m.mode}-detail`}
                />{' '}
                <label htmlFor={`${id}-mode-${m.mode}`}>{m.label}</label>
                <p id={`${id}-mode-${m.mode}-detail`} className="muted small choice-detail">
                  {m.detail}
                </p>
              </div>
            ))}
          </fieldset>
          <div className="field">
            <label htmlFor={`${id}-profile`}>Profile</label>
            <select id={`${id}-profile`} className="input" value={profile} onChange={(e) => setProfile(e.target.value)}>
              {profiles.map((p) => (
                <option key={p.name} value={p.name} disabled={!p.allowed}>
                  {p.name} — {p.description} ({p.runtime}){p.allowed ? '' : ' — not allowed by policy'}
                </option>
              ))}
            </select>
          </div>
          {launchError !== null && <p role="alert" className="error">{launchError}</p>}
          <button type="submit" className="btn" disabled={launching || workspace.path.trim() === ''}>
            {launching ? 'Launching…' : 'Launch'}
          </button>
        </form>
      ) : (
        <p className="card muted">Your organization’s policy does not let this machine launch agents.</p>
      )}
    </>
  );
}

/**
 * A password field that sends the key with keys.set (or keys.rotate) and
 * clears itself, whatever the answer; the answer is a status, never the key.
 */
export function KeyForm({ provider, mode, onDone }: { readonly provider: string; readonly mode: 'set' | 'rotate'; readonly onDone: (status: KeyStatusView) => void }) {
  const { api, announce } = useShell();
  const [secret, setSecret] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const id = useId();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const value = secret;
    setSecret('');
    setBusy(true);
    const r = mode === 'set' ? await api.call('keys.set', { provider, secret: value }) : await api.call('keys.rotate', { provider, secret: value });
    setBusy(false);
    if (r.ok) {
      setError(null);
      announce(r.value.state === 'present' ? `The ${provider} key is stored.` : `The ${provider} key could not be stored: ${r.value.message ?? r.value.state}`, r.value.state === 'present' ? 'info' : 'error');
      onDone(r.value);
    } else {
      setError(r.error.message);
    }
  };
  return (
    <form className="inline-form" onSubmit={(e) => void submit(e)}>
      <label htmlFor={`${id}-secret`}>{mode === 'set' ? `${providerName(provider)} API key` : `New ${providerName(provider)} API key`}</label>
      <input id={`${id}-secret`} type="password" className="input" autoComplete="off" spellCheck={false} value={secret} onChange={(e) => setSecret(e.target.value)} />
      <button type="submit" className="btn" disabled={busy || secret === ''}>
        {mode === 'set' ? 'Save key' : 'Replace key'}
      </button>
      {error !== null && <p role="alert" className="error">{error}</p>}
    </form>
  );
}

/** A provider id as people write it: `anthropic` → `Anthropic`. */
function providerName(provider: string): string {
  return provider.charAt(0).toUpperCase() + provider.slice(1);
}
