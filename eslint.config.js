// Lint is where Cordon's layering is enforced (HOUSE-STYLE.md): core/ decides and
// enforces and never imports electron or a UI layer; cli/ and electron/ are adapters.
// `npm run lint` also fails on an import cycle (scripts/check-import-cycles.mjs).
// eslint.config.test.ts proves each layering rule fires.
import js from '@eslint/js';
import globals from 'globals';
import { builtinModules } from 'node:module';
import tseslint from 'typescript-eslint';

// Only the Electron main and preload processes may load Electron: core/ is
// driven by the CLI too, and the renderer is sandboxed (it reaches main only
// through the preload's typed API).
const noElectron = { group: ['electron', 'electron/*'], message: 'only electron/ may import electron.' };

// The renderer runs sandboxed without Node. It sees core only through the IPC
// contract in core/api/ (zod schemas and the CordonApi types, shared by the
// preload and the `cordon ui` client); everything else it asks for over IPC.
const rendererImports = [
  noElectron,
  { group: ['node:*'], message: 'renderer/ runs without Node: ask core through the CordonApi contract.' },
  {
    regex: '^(\\.\\./)+(core/(?!api/)|cli/|electron/)',
    message: 'renderer/ may import only the IPC contract (core/api/) and its own files.',
  },
];
const electronImports = [{ group: ['**/cli/**', '**/renderer/**'], message: 'electron/ is an adapter over core/: it loads the renderer by URL, never by import.' }];
const rawIpcMessage = 'only electron/ipc-contract.ts touches ipcMain/ipcRenderer: use its helpers, which check the sender and both directions of every payload.';
const nodeBuiltins = builtinModules.filter((m) => !m.startsWith('_')).map((name) => ({ name, message: 'renderer/ runs without Node: ask core through the CordonApi contract.' }));

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'build/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // node:test registrations return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] }] },
      ],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  // Each block below replaces the rule's options for its files, so each lists all of its layer's limits.
  {
    ignores: ['electron/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [noElectron] }] },
  },
  {
    files: ['core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['electron', 'electron/*'], message: 'core/ must not import electron: it is driven by the CLI too.' },
            { group: ['**/cli/**', '**/electron/**', '**/renderer/**'], message: 'core/ must not depend on an adapter layer.' },
          ],
        },
      ],
    },
  },
  {
    files: ['electron/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: electronImports }] },
  },
  // Raw IPC lives in one file: electron/ipc-contract.ts registers main's handler
  // only behind the sender and payload checks, and gives the preload checked
  // helpers. Anywhere else, ipcMain/ipcRenderer could open an unchecked channel.
  {
    files: ['electron/**'],
    ignores: ['electron/ipc-contract.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: [{ name: 'electron', importNames: ['ipcMain', 'ipcRenderer'], message: rawIpcMessage }], patterns: electronImports }],
      'no-restricted-syntax': [
        'error',
        { selector: 'MemberExpression[property.name=/^ipc(Main|Renderer)$/]', message: rawIpcMessage },
        { selector: 'MemberExpression[property.value=/^ipc(Main|Renderer)$/]', message: rawIpcMessage },
        { selector: 'ObjectPattern > Property[key.name=/^ipc(Main|Renderer)$/]', message: rawIpcMessage },
      ],
    },
  },
  {
    files: ['renderer/**'],
    rules: { 'no-restricted-imports': ['error', { paths: nodeBuiltins, patterns: rendererImports }] },
  },
  // The renderer's pure-logic tests run under Node's test runner (from dist/, like every other test):
  // they alone may load node:test and node:assert; every other limit still holds.
  {
    files: ['renderer/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.filter((p) => !['test', 'assert'].includes(p.name)),
          patterns: [
            noElectron,
            { regex: '^node:(?!(test|assert|assert/strict)$)', message: 'renderer/ tests may load only node:test and node:assert.' },
            rendererImports[2],
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { ...tseslint.configs.disableTypeChecked.languageOptions, globals: globals.node },
  },
  {
    files: ['**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { ...tseslint.configs.disableTypeChecked.languageOptions, sourceType: 'commonjs', globals: globals.node },
    rules: { ...tseslint.configs.disableTypeChecked.rules, '@typescript-eslint/no-require-imports': 'off' },
  },
);
