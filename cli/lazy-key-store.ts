import { systemClock } from '../core/keys/clock.js';
import type { KeyStore } from '../core/keys/key-store.js';

/**
 * The OS keychain behind a KeyStore whose native binding (~25 ms to load) is
 * imported on first use, so commands that never touch a key do not pay for it.
 */
export function lazyKeyringStore(): KeyStore {
  let inner: Promise<KeyStore> | undefined;
  const load = (): Promise<KeyStore> => (inner ??= import('../core/keys/keyring-key-store.js').then((m) => new m.KeyringKeyStore({ clock: systemClock })));
  return {
    get: async (p) => (await load()).get(p),
    set: async (p, s) => (await load()).set(p, s),
    rotate: async (p, s) => (await load()).rotate(p, s),
    remove: async (p) => (await load()).remove(p),
    status: async (p) => (await load()).status(p),
  };
}
