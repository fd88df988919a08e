/**
 * The shell: picks what to show from the transport's state, then a left
 * navigation and one screen at a time. Routing is component state, never the
 * URL: the fragment holds the bridge token and is left alone.
 */
import { lazy, Suspense, useCallback, useEffect, useMemo, useRef, useState, useSyncExternalStore } from 'react';
import type { ApiResponse, ApiResult, Features } from '../../core/api/cordon-api.js';
import type { ApiChoice } from './api/choose-api.js';
import type { FirstAnswers } from './model/first-answers.js';
import type { ConnectionStatus, StatusSource } from './api/bridge-client.js';
import { ShellContext, type Shell } from './api-context.js';
import { NoTokenPage } from './screens/no-token-page.js';
import { SetupScreen } from './screens/setup-screen.js';
import { HomeScreen } from './screens/home-screen.js';
import { PolicyScreen } from './screens/policy-screen.js';
import { KeysScreen } from './screens/keys-screen.js';
import { AuditScreen } from './screens/audit-screen.js';
import { ApprovalsScreen } from './screens/approvals-screen.js';
import { ApprovalPrompt } from './components/approval-prompt.js';
import type { SessionMode } from './model/session-mode.js';

// The session screen carries xterm.js, the largest part of the UI: it loads
// when a session is first opened, so the first screen does not wait for it.
const SessionScreen = lazy(() => import('./screens/session-screen.js').then((m) => ({ default: m.SessionScreen })));
// The chat screen (conversation, diffs, previews, Markdown) is only for chat sessions: its own chunk too.
const ChatScreen = lazy(() => import('./screens/chat-screen.js').then((m) => ({ default: m.ChatScreen })));

export type Screen =
  | { readonly name: 'setup' }
  | { readonly name: 'home' }
  | { readonly name: 'session'; readonly sessionId: string }
  | { readonly name: 'chat'; readonly sessionId: string }
  | { readonly name: 'policy' }
  | { readonly name: 'keys' }
  | { readonly name: 'audit' }
  | { readonly name: 'approvals' };

const NAV: readonly { readonly screen: Exclude<Screen, { name: 'session' | 'chat' }>; readonly label: string }[] = [
  { screen: { name: 'home' }, label: 'Home' },
  { screen: { name: 'setup' }, label: 'Setup' },
  { screen: { name: 'policy' }, label: 'Policy' },
  { screen: { name: 'keys' }, label: 'Keys' },
  { screen: { name: 'approvals' }, label: 'Approvals' },
  { screen: { name: 'audit' }, label: 'Audit' },
];

export function App({ choice, first }: { readonly choice: ApiChoice; readonly first: FirstAnswers | null }) {
  if (choice.kind === 'no_token') return <NoTokenPage reason="no_token" />;
  if (choice.kind === 'electron') return <Connected choice={choice} connection={null} first={first} />;
  return <BridgeGate choice={choice} connection={choice.connection} first={first} />;
}

/** First run (no stored key) opens Setup; otherwise Home. A machine not ready to launch says so when the checks are in. */
function firstScreen(keys: ApiResult<ApiResponse<'keys.status'>>): Screen {
  return keys.ok && keys.value.some((k) => k.state === 'present') ? { name: 'home' } : { name: 'setup' };
}

function useConnectionStatus(source: StatusSource): ConnectionStatus {
  return useSyncExternalStore(
    (notify) => source.onStatus(notify),
    () => source.status,
  );
}

function BridgeGate({ choice, connection, first }: { readonly choice: ApiChoice & { kind: 'bridge' }; readonly connection: StatusSource & { retry(): void }; readonly first: FirstAnswers | null }) {
  const status = useConnectionStatus(connection);
  if (status === 'refused') return <NoTokenPage reason="refused" onRetry={() => connection.retry()} />;
  if (status === 'connecting') {
    return (
      <main className="centered" aria-busy="true">
        <h1>Connecting to Cordon…</h1>
      </main>
    );
  }
  return <Connected choice={choice} connection={status} first={first} />;
}

interface Announcement {
  readonly message: string;
  readonly level: 'info' | 'error';
  readonly n: number;
}

function Connected({
  choice,
  connection,
  first,
}: {
  readonly choice: ApiChoice & { kind: 'electron' | 'bridge' };
  readonly connection: ConnectionStatus | null;
  /** Asked by the entry before the app loaded; used once, for the first screen. */
  readonly first: FirstAnswers | null;
}) {
  const api = choice.api;
  // Answers that were in before the app mounted draw the first screen in the first render.
  const settled = first?.settled ?? null;
  const settledInfo = settled?.info.ok === true ? settled.info.value : null;
  const [features, setFeatures] = useState<Features | null>(settledInfo?.features ?? null);
  const [version, setVersion] = useState(settledInfo?.version ?? '');
  const [screen, setScreen] = useState<Screen | null>(settledInfo === null || settled === null ? null : firstScreen(settled.keys));
  const [startError, setStartError] = useState<string | null>(null);
  const [checksFail, setChecksFail] = useState(false);
  const [announcement, setAnnouncement] = useState<Announcement | null>(null);
  const firstRef = useRef(first);

  const announce = useCallback((message: string, level: 'info' | 'error' = 'info') => {
    setAnnouncement((prev) => ({ message, level, n: (prev?.n ?? 0) + 1 }));
  }, []);

  useEffect(() => {
    let live = true;
    void (async () => {
      // The doctor's checks take seconds (one starts a sandbox under gVisor):
      // the first screen does not wait for them.
      // Used once: the answers describe the page's start, not a later moment.
      const asked = firstRef.current;
      firstRef.current = null;
      const answers = Promise.all([asked?.info ?? api.call('app.info', {}), asked?.keys ?? api.call('keys.status', {})]);
      const doctor = api.call('doctor.run', {});
      const [info, keys] = await answers;
      if (!live) return;
      if (!info.ok) {
        setStartError(info.error.message);
        return;
      }
      setFeatures(info.value.features);
      setVersion(info.value.version);
      setScreen((current) => current ?? firstScreen(keys));
      const checks = await doctor;
      if (live) setChecksFail(!checks.ok || checks.value.checks.some((c) => c.status === 'fail'));
    })();
    return () => {
      live = false;
    };
  }, [api]);

  // A dropped bridge is a status message too, not only a badge.
  const [wasReconnecting, setWasReconnecting] = useState(false);
  // Events sent while the bridge was down are lost: after a reconnect the screen is rebuilt, so it refetches.
  const [epoch, setEpoch] = useState(0);
  useEffect(() => {
    if (connection === 'reconnecting') {
      setWasReconnecting(true);
      announce('The connection to Cordon was lost. Reconnecting…', 'error');
    } else if (connection === 'open' && wasReconnecting) {
      setWasReconnecting(false);
      setEpoch((n) => n + 1);
      announce('Reconnected to Cordon.');
    }
  }, [connection, wasReconnecting, announce]);

  // Notices from core are status messages too.
  useEffect(
    () =>
      api.onEvent((e) => {
        if (e.type === 'notice') announce(e.message, e.level === 'error' ? 'error' : 'info');
      }),
    [api, announce],
  );

  const shell = useMemo<Shell | null>(() => (features === null ? null : { api, features, announce }), [api, features, announce]);

  if (startError !== null) {
    return (
      <main className="centered">
        <h1>Cordon could not start the interface</h1>
        <p role="alert">{startError}</p>
      </main>
    );
  }
  if (shell === null || screen === null) {
    return (
      <main className="centered" aria-busy="true">
        <h1>Loading Cordon…</h1>
      </main>
    );
  }

  const navCurrent = screen.name === 'session' || screen.name === 'chat' ? 'home' : screen.name;
  return (
    <ShellContext.Provider value={shell}>
      <div className="layout">
        <header className="topbar">
          <span className="brand" aria-hidden="true">
            ◆
          </span>
          <span className="brand-name">Cordon</span>
          <span className="version">{version}</span>
          {connection === 'reconnecting' && <span className="badge badge-warn">Reconnecting…</span>}
        </header>
        <nav className="sidenav" aria-label="Main">
          <ul>
            {NAV.map((item) => (
              <li key={item.screen.name}>
                <button type="button" className="nav-item" aria-current={navCurrent === item.screen.name ? 'page' : undefined} onClick={() => setScreen(item.screen)}>
                  {item.label}
                </button>
              </li>
            ))}
          </ul>
        </nav>
        <main className="content" id="main">
          {checksFail && screen.name !== 'setup' && (
            <p role="alert" className="notice notice-error">
              A system check fails, so a launch may not work.{' '}
              <button type="button" className="btn btn-secondary" onClick={() => setScreen({ name: 'setup' })}>
                See the checks in Setup
              </button>
            </p>
          )}
          <ScreenView key={epoch} screen={screen} go={setScreen} />
        </main>
        {/* On every screen; rebuilt after a reconnect like the screen, since events sent meanwhile are lost. */}
        <ApprovalPrompt key={epoch} />
        <footer className="statusbar">
          <div role="status" aria-live="polite" className={announcement?.level === 'error' ? 'status-error' : undefined}>
            {announcement?.message ?? ''}
          </div>
        </footer>
      </div>
    </ShellContext.Provider>
  );
}

/** The screen that shows a session: its conversation for a chat session, else its terminal. */
function sessionScreen(sessionId: string, mode: SessionMode): Screen {
  return mode === 'chat' ? { name: 'chat', sessionId } : { name: 'session', sessionId };
}

function ScreenView({ screen, go }: { readonly screen: Screen; readonly go: (s: Screen) => void }) {
  switch (screen.name) {
    case 'setup':
      return <SetupScreen onLaunched={(sessionId, mode) => go(sessionScreen(sessionId, mode))} />;
    case 'home':
      return <HomeScreen onOpen={(sessionId, mode) => go(sessionScreen(sessionId, mode))} onLaunch={() => go({ name: 'setup' })} />;
    case 'session':
      return (
        <Suspense fallback={<p aria-busy="true">Opening the session…</p>}>
          <SessionScreen key={screen.sessionId} sessionId={screen.sessionId} onStopped={() => go({ name: 'home' })} />
        </Suspense>
      );
    case 'chat':
      return (
        <Suspense fallback={<p aria-busy="true">Opening the conversation…</p>}>
          <ChatScreen key={screen.sessionId} sessionId={screen.sessionId} onStopped={() => go({ name: 'home' })} />
        </Suspense>
      );
    case 'policy':
      return <PolicyScreen />;
    case 'keys':
      return <KeysScreen />;
    case 'audit':
      return <AuditScreen />;
    case 'approvals':
      return <ApprovalsScreen />;
  }
}
