/**
 * Builds the renderer into dist/renderer. The page is served under
 * `script-src 'self'` (Electron and `cordon ui` alike), so the output must hold
 * no inline script: the module-preload polyfill, which Vite would inline, is off.
 * `base: './'` lets the same files load from file:// (Electron) and from the bridge.
 */
import react from '@vitejs/plugin-react';
import { defineConfig, type Plugin } from 'vite';

// No node: import here (the renderer lint rule covers this folder): the config's own URL gives its folder.
const here = decodeURIComponent(new URL('.', import.meta.url).pathname);

/**
 * The entry loads the app (React and the screens) with a dynamic import once
 * it has started the bridge's connection; a modulepreload link lets the
 * browser fetch and compile that chunk while the entry runs, instead of after.
 */
function preloadAppChunk(): Plugin {
  return {
    name: 'cordon-preload-app-chunk',
    apply: 'build',
    transformIndexHtml: {
      order: 'post',
      handler(_html, ctx) {
        const chunk = Object.values(ctx.bundle ?? {}).find((c) => c.type === 'chunk' && (c.facadeModuleId ?? '').endsWith('/src/app-root.tsx'));
        if (chunk === undefined) throw new Error('vite.config.ts: no app-root chunk to preload (renamed?)');
        return [{ tag: 'link', attrs: { rel: 'modulepreload', crossorigin: true, href: `./${chunk.fileName}` }, injectTo: 'head' }];
      },
    },
  };
}

export default defineConfig({
  root: here,
  base: './',
  plugins: [react(), preloadAppChunk()],
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
