/**
 * The agent's TTY in xterm.js: the backlog from terminal.attach, then
 * terminal.output events for this session; keystrokes and size changes go back
 * through terminal.input / terminal.resize. Output is written as text only
 * (xterm does not execute it); links and OSC side effects are left off.
 */
import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';
import { useEffect, useRef } from 'react';
import { useShell } from '../api-context.js';

export function TerminalView({ sessionId, attachable, onExit }: { readonly sessionId: string; readonly attachable: boolean; readonly onExit: (code: number) => void }) {
  const { api, announce } = useShell();
  const host = useRef<HTMLDivElement>(null);
  const exitRef = useRef(onExit);
  useEffect(() => {
    exitRef.current = onExit;
  });

  useEffect(() => {
    const el = host.current;
    if (el === null || !attachable) return;
    const term = new Terminal({
      convertEol: false,
      cursorBlink: true,
      fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, monospace',
      fontSize: 13,
      scrollback: 5000,
      screenReaderMode: false,
      theme: { background: '#0f1a2a', foreground: '#e6edf5', cursor: '#e6edf5' },
      // The agent's output is untrusted (a prompt injection can print anything):
      // OSC 8 hyperlinks stay inert text rather than xterm's default confirm()
      // and window.open. Window reports and manipulation (windowOptions) stay off,
      // and no clipboard addon is loaded, so OSC 52 cannot write the clipboard.
      linkHandler: { activate: () => undefined },
    });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(el);
    let live = true;
    // Output that arrives before the backlog is written waits, so the screen keeps its order.
    let attached = false;
    const early: string[] = [];

    const unsubscribe = api.onEvent((e) => {
      if (e.type === 'terminal.output' && e.sessionId === sessionId) {
        if (attached) term.write(e.data);
        else early.push(e.data);
      } else if (e.type === 'terminal.exit' && e.sessionId === sessionId) {
        term.write(`\r\n[process exited with code ${e.exitCode}]\r\n`);
        exitRef.current(e.exitCode);
      }
    });

    void api.call('terminal.attach', { sessionId }).then((r) => {
      if (!live) return;
      if (r.ok) term.write(r.value.backlog);
      else announce(`Could not attach to the terminal: ${r.error.message}`, 'error');
      attached = true;
      for (const chunk of early.splice(0)) term.write(chunk);
      sendSize();
    });

    const input = term.onData((data) => {
      void api.call('terminal.input', { sessionId, data });
    });

    let lastSize = '';
    const sendSize = () => {
      try {
        fit.fit();
      } catch {
        return; // not laid out yet
      }
      const cols = Math.max(2, Math.min(1000, term.cols));
      const rows = Math.max(2, Math.min(1000, term.rows));
      const size = `${cols}x${rows}`;
      if (size === lastSize) return;
      lastSize = size;
      void api.call('terminal.resize', { sessionId, cols, rows });
    };
    const ro = new ResizeObserver(() => sendSize());
    ro.observe(el);

    return () => {
      live = false;
      ro.disconnect();
      input.dispose();
      unsubscribe();
      term.dispose();
    };
  }, [api, sessionId, attachable, announce]);

  if (!attachable) {
    return <p className="muted">This session’s terminal is hosted by another Cordon process; it cannot be attached here.</p>;
  }
  return <div ref={host} className="terminal" data-testid="terminal" role="region" aria-label="Agent terminal" />;
}
