/**
 * The page's entry, kept small on purpose (issue 15's first-screen target):
 * it picks the transport, which starts connecting at once, and asks the two
 * questions the first screen needs (`app.info`, `keys.status`) before React
 * and the screens are even loaded. The app arrives as a second chunk while
 * the bridge's handshake and those answers are on their way.
 */
import '@xterm/xterm/css/xterm.css';
import './styles.css';
import { tokenFromFragment } from '../../core/api/bridge-protocol.js';
import { chooseApi } from './api/choose-api.js';
import { settleWithin } from './model/first-answers.js';

const root = document.getElementById('root');
if (root === null) throw new Error('index.html has no #root');
const choice = chooseApi(window);
if (choice.kind === 'no_token') {
  // Someone pasted the address with its token into this tab: a hash change does not reload the page, so start over.
  window.addEventListener('hashchange', () => {
    if (tokenFromFragment(window.location.hash) !== null) window.location.reload();
  });
}
// The app mounts once its chunk is in and the two answers are too (or 300 ms
// have passed): its first render is then the first screen, not "Loading".
const first =
  choice.kind === 'no_token' ? null : settleWithin({ info: choice.api.call('app.info', {}), keys: choice.api.call('keys.status', {}) }, 300);
void Promise.all([import('./app-root.js'), first]).then(([m, answers]) => m.mount(root, choice, answers));
