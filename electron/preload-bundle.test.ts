/**
 * The preload as it ships: scripts/bundle-electron.mjs builds it into a
 * temporary folder, and the bundle runs in a fresh V8 context whose
 * `require` knows only a fake `electron` (as a sandboxed preload's does).
 * It must expose exactly `window.cordon` with call, onEvent and pathForFile, call over
 * `cordon:call`, and pass on only answers and events inside the contract.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runInNewContext } from 'node:vm';

const repoRoot = process.env['CORDON_REPO_ROOT'] ?? fileURLToPath(new URL('../../', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'cordon-preload-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

type Handler = (event: unknown, payload: unknown) => void;

let bundle: string | undefined;
/** The shipped build, made once per run. */
function preloadSource(): string {
  if (bundle === undefined) {
    const out = join(scratch, 'preload.cjs');
    const built = spawnSync(process.execPath, ['scripts/bundle-electron.mjs', '--out', out], { cwd: repoRoot, encoding: 'utf8' });
    assert.equal(built.status, 0, built.stderr);
    bundle = readFileSync(out, 'utf8');
  }
  return bundle;
}

/** Objects from the preload's V8 context, compared by value (their prototypes are that context's). */
const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v)) as unknown;

/** Loads the bundle with a fake electron; ANSWER is what main "returns" to invoke. */
function loadPreload(answer: (channel: string, args: unknown[]) => unknown) {
  const exposed = new Map<string, unknown>();
  const invoked: { channel: string; args: unknown[] }[] = [];
  const listeners = new Map<string, Set<Handler>>();
  const electron = {
    contextBridge: { exposeInMainWorld: (name: string, api: unknown) => exposed.set(name, api) },
    webUtils: {
      getPathForFile: (file: unknown) => {
        if (typeof file !== 'object' || file === null || !('fakePath' in file)) throw new TypeError('not a File');
        return String((file).fakePath);
      },
    },
    ipcRenderer: {
      invoke: (channel: string, ...args: unknown[]) => {
        invoked.push({ channel, args });
        return Promise.resolve(answer(channel, args));
      },
      on: (channel: string, h: Handler) => listeners.set(channel, (listeners.get(channel) ?? new Set()).add(h)),
      removeListener: (channel: string, h: Handler) => listeners.get(channel)?.delete(h),
    },
  };
  const required: string[] = [];
  const module = { exports: {} };
  runInNewContext(preloadSource(), {
    module,
    exports: module.exports,
    require: (name: string) => {
      required.push(name);
      if (name === 'electron') return electron;
      throw new Error(`a sandboxed preload cannot require ${name}`);
    },
  });
  const emit = (payload: unknown): void => {
    for (const h of listeners.get('cordon:event') ?? []) h({}, payload);
  };
  return { exposed, invoked, listeners, required, emit };
}

test('the bundle exposes window.cordon with call, onEvent and pathForFile, and nothing else', () => {
  const p = loadPreload(() => ({ ok: true, value: [] }));
  assert.deepEqual([...p.exposed.keys()], ['cordon']);
  assert.deepEqual(Object.keys(p.exposed.get('cordon') as object).sort(), ['call', 'onEvent', 'pathForFile']);
  const pathForFile = (p.exposed.get('cordon') as { pathForFile: (f: unknown) => string }).pathForFile;
  assert.equal(pathForFile({ fakePath: '/home/u/a.txt' }), '/home/u/a.txt');
  // What is not a dropped File (a string the page made up, say) has no path, and throws nothing.
  assert.equal(pathForFile('/home/u/.ssh/id_ed25519'), '');
  assert.deepEqual([...new Set(p.required)], ['electron']);
});

test('call goes over cordon:call as (method, request) and answers outside the contract are refused', async () => {
  let reply: unknown = { ok: true, value: [{ path: '/w', mode: 'ro' }] };
  const p = loadPreload(() => reply);
  const api = p.exposed.get('cordon') as { call: (m: string, r: unknown) => Promise<unknown> };
  assert.deepEqual(plain(await api.call('recent.workspaces', {})), { ok: true, value: [{ path: '/w', mode: 'ro' }] });
  assert.deepEqual(p.invoked, [{ channel: 'cordon:call', args: ['recent.workspaces', {}] }]);
  reply = { ok: true, value: { provider: 'anthropic', state: 'present', lastSetAt: null, rotatedAt: null, message: null, secret: 'sk-ant-leak' } };
  const leaked = await api.call('keys.remove', { provider: 'anthropic' });
  assert.deepEqual(plain(leaked), { ok: false, error: { code: 'failed', message: 'the app answered keys.remove outside the contract' } });
});

test('onEvent passes on contract events only, and stops when unsubscribed', () => {
  const p = loadPreload(() => null);
  const api = p.exposed.get('cordon') as { onEvent: (l: unknown) => () => void };
  const got: unknown[] = [];
  const stop = api.onEvent((e: unknown) => got.push(e));
  p.emit({ type: 'sessions.changed' });
  p.emit({ type: 'run', code: 'alert(1)' });
  p.emit({ type: 'notice', level: 'warn', message: 'engine slow', extra: true });
  p.emit({ type: 'notice', level: 'warn', message: 'engine slow' });
  assert.deepEqual(plain(got), [{ type: 'sessions.changed' }, { type: 'notice', level: 'warn', message: 'engine slow' }]);
  stop();
  assert.equal(p.listeners.get('cordon:event')?.size, 0);
  assert.equal(typeof api.onEvent('not a function'), 'function', 'a non-function listener registers nothing');
  assert.equal(p.listeners.get('cordon:event')?.size, 0);
});
