/**
 * The host clipboard in the app (issue 18): Electron's own clipboard, behind
 * the interface the sandbox's clipboard tools reach through the gate
 * (core/clipboard/host-clipboard.ts). Text and PNG images; on Linux the
 * primary selection is Electron's `clipboard.selection`.
 */
import { clipboard, ClipboardItem } from 'electron';
import type { HostClipboard, Selection } from '../core/clipboard/host-clipboard.js';

function board(sel: Selection): Electron.Clipboard {
  return sel === 'primary' && process.platform === 'linux' ? clipboard.selection : clipboard;
}

export function electronClipboard(): HostClipboard {
  return {
    name: "the app's clipboard",
    types: async (sel) => {
      const out = new Set<string>();
      for (const item of await board(sel).read()) for (const t of item.types) out.add(t.startsWith('text/plain') ? 'text/plain' : t);
      return [...out];
    },
    read: async (sel, type) => {
      if (type === 'text/plain') {
        const text = await board(sel).readText();
        return text === '' ? null : Buffer.from(text, 'utf8');
      }
      const item = (await board(sel).read()).find((i) => i.types.includes(type));
      if (!item) return null;
      const blob = await item.getType(type);
      return blob instanceof Blob ? Buffer.from(await blob.arrayBuffer()) : null;
    },
    write: async (sel, type, data) => {
      if (type === 'text/plain') await board(sel).writeText(data.toString('utf8'));
      else await board(sel).write([new ClipboardItem({ [type]: new Blob([new Uint8Array(data)], { type }) })]);
    },
  };
}
