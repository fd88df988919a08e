/**
 * Builds the renderer into dist/renderer. The page is served under
 * `script-src 'self'` (Electron and `cordon ui` alike), so the output must hold
 * no inline script: the module-preload polyfill, which Vite would inline, is off.
 * `base: './'` lets the same files load from file:// (Electron) and from the bridge.
 */
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// No node: import here (the renderer lint rule covers this folder): the config's own URL gives its folder.
const here = decodeURIComponent(new URL('.', import.meta.url).pathname);

export default defineConfig({
  root: here,
  base: './',
  plugins: [react()],
  build: {
    outDir: `${here}../dist/renderer`,
    // `npm run build` deletes dist/ first, and the root tsc writes the model's compiled tests under
    // dist/renderer before this runs: emptying the folder would delete them.
    emptyOutDir: false,
    modulePreload: { polyfill: false },
    // Assets are files, never data: URLs the CSP would have to allow.
    assetsInlineLimit: 0,
    sourcemap: true,
    // React, zod and xterm in one chunk: loaded from disk or loopback, never over a network.
    chunkSizeWarningLimit: 1024,
  },
  server: { host: '127.0.0.1' },
});
