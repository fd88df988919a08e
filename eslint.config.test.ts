/**
 * The layering rules in eslint.config.js fire: each case lints a snippet as if
 * it were a file in that layer (nothing is written) and checks which imports
 * are refused. Type-aware rules are off here; a snippet is not in a project.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';

const repoRoot = process.env['CORDON_REPO_ROOT'] ?? fileURLToPath(new URL('../', import.meta.url));
const eslint = new ESLint({
  cwd: repoRoot,
  overrideConfig: [{ files: ['**/*.ts', '**/*.tsx'], ...tseslint.configs.disableTypeChecked }],
});

/** The specifiers lint refuses when FILE (relative to the repository) imports each of SPECIFIERS. */
async function refused(file: string, specifiers: readonly string[]): Promise<string[]> {
  const code = specifiers.map((s, i) => `import * as m${i} from '${s}';\nexport { m${i} };\n`).join('');
  const [result] = await eslint.lintText(code, { filePath: join(repoRoot, file) });
  assert.ok(result);
  assert.ok(!result.messages.some((m) => m.fatal === true || /ignored/.test(m.message)), JSON.stringify(result.messages));
  const lines = result.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.line);
  // Each specifier sits on its own pair of lines: 2i+1 is its import.
  return specifiers.filter((_s, i) => lines.includes(2 * i + 1));
}

test('renderer/ imports only the IPC contract, its own files and packages', async () => {
  const banned = ['node:fs', 'fs', 'child_process', 'fs/promises', 'electron', 'electron/renderer', '../core/policy/policy-schema.js', '../../core/session/session-runner.js', '../cli/main.js', '../electron/preload.js'];
  const allowed = ['../core/api/cordon-api.js', '../../core/api/channels.js', './view.js', '../shared/format.js', 'react', 'zod'];
  assert.deepEqual(await refused('renderer/app/view.tsx', banned), banned);
  assert.deepEqual(await refused('renderer/app/view.tsx', allowed), []);
  assert.deepEqual(await refused('renderer/main.ts', ['node:path', '../core/api/cordon-api.js']), ['node:path']);
});

test('renderer tests may load node:test and node:assert, and nothing else from Node', async () => {
  const file = 'renderer/src/model/x.test.ts';
  assert.deepEqual(await refused(file, ['node:test', 'node:assert', 'node:assert/strict', './x.js', '../../../core/api/cordon-api.js']), []);
  assert.deepEqual(await refused(file, ['node:fs', 'fs', 'child_process', 'electron', '../../../core/session/session-runner.js']), ['node:fs', 'fs', 'child_process', 'electron', '../../../core/session/session-runner.js']);
  // The exception is for tests only.
  assert.deepEqual(await refused('renderer/src/model/x.ts', ['node:test', 'node:assert']), ['node:test', 'node:assert']);
});

/** Rule id and line of every layering complaint about CODE as if it were FILE. */
async function complaints(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(repoRoot, file) });
  assert.ok(result);
  assert.ok(!result.messages.some((m) => m.fatal === true || /ignored/.test(m.message)), JSON.stringify(result.messages));
  return result.messages.filter((m) => m.ruleId === 'no-restricted-imports' || m.ruleId === 'no-restricted-syntax').map((m) => `${m.ruleId}:${m.line}`);
}

test('only electron/ imports electron', async () => {
  // A namespace import of electron would carry ipcMain: only the IPC contract may (see the raw-IPC test).
  assert.deepEqual(await refused('electron/ipc-contract.ts', ['electron', '../core/session/session-runner.js', 'node:path']), []);
  assert.deepEqual(await refused('electron/main.ts', ['../core/session/session-runner.js', 'node:path']), []);
  assert.deepEqual(await complaints('electron/main.ts', "import { app, BrowserWindow, contextBridge } from 'electron';\nexport { app, BrowserWindow, contextBridge };\n"), []);
  for (const file of ['core/session/x.ts', 'cli/x.ts', 'bench/x.ts', 'e2e/x.ts', 'scripts/x.mjs']) {
    assert.deepEqual(await refused(file, ['electron', 'electron/main']), ['electron', 'electron/main'], file);
  }
});

test('electron/ is an adapter over core: it imports neither cli/ nor renderer/', async () => {
  assert.deepEqual(await refused('electron/windows/main-window.ts', ['../../cli/main.js', '../../renderer/app.js', '../../core/paths/cordon-paths.js']), ['../../cli/main.js', '../../renderer/app.js']);
});

test('core/ imports no adapter layer and no electron', async () => {
  const banned = ['electron', '../../cli/main.js', '../../electron/main.js', '../../renderer/app.js'];
  assert.deepEqual(await refused('core/session/x.ts', banned), banned);
  assert.deepEqual(await refused('core/session/x.ts', ['node:fs', '../policy/policy-schema.js', '../api/cordon-api.js']), []);
});

test('raw ipcMain/ipcRenderer only in electron/ipc-contract.ts', async () => {
  const uses = [
    "import { ipcMain } from 'electron';\nexport { ipcMain };\n",
    "import { app, ipcRenderer as r } from 'electron';\nexport { app, r };\n",
    "import * as electron from 'electron';\nexport { electron };\n",
    "import electron from 'electron';\nexport const h = electron.ipcMain.handle;\n",
    "import electron from 'electron';\nexport const r = electron['ipcRenderer'];\n",
    "import electron from 'electron';\nexport const { ipcMain } = electron;\n",
  ];
  for (const file of ['electron/main.ts', 'electron/preload.ts', 'electron/windows/main-window.ts']) {
    const found = await Promise.all(uses.map((code) => complaints(file, code)));
    assert.deepEqual(found, [['no-restricted-imports:1'], ['no-restricted-imports:1'], ['no-restricted-imports:1'], ['no-restricted-syntax:2'], ['no-restricted-syntax:2'], ['no-restricted-syntax:2']], file);
  }
  for (const code of uses) assert.deepEqual(await complaints('electron/ipc-contract.ts', code), [], code);
  // The adapter limits still hold in the files the raw-IPC block covers.
  assert.deepEqual(await refused('electron/preload.ts', ['../cli/main.js', '../renderer/app.js']), ['../cli/main.js', '../renderer/app.js']);
});
