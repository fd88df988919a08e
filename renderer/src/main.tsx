import '@xterm/xterm/css/xterm.css';
import './styles.css';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { tokenFromFragment } from '../../core/api/bridge-protocol.js';
import { chooseApi } from './api/choose-api.js';
import { App } from './app.js';

const root = document.getElementById('root');
if (root === null) throw new Error('index.html has no #root');
const choice = chooseApi(window);
if (choice.kind === 'no_token') {
  // Someone pasted the address with its token into this tab: a hash change does not reload the page, so start over.
  window.addEventListener('hashchange', () => {
    if (chooseApiWouldConnect()) window.location.reload();
  });
}
createRoot(root).render(
  <StrictMode>
    <App choice={choice} />
  </StrictMode>,
);

function chooseApiWouldConnect(): boolean {
  return tokenFromFragment(window.location.hash) !== null;
}
