/**
 * The OS keychain behind a KeyStore whose native binding (~25 ms to load) is
 * imported on first use, so commands that never touch a key do not pay for
 * it. Kept apart from the session service: `cordon --version` and the keys
 * commands load this file at start, and must not evaluate the service's
 * modules on the way.
 */
import { systemClock } from './clock.js';
import type { KeyStore } from './key-store.js';

export function lazyKeyringStore(): KeyStore {
  let inner: Promise<KeyStore> | undefined;
  const load = (): Promise<KeyStore> => (inner ??= import('./keyring-key-store.js').then((m) => new m.KeyringKeyStore({ clock: systemClock })));
  return {
    get: async (p) => (await load()).get(p),
    set: async (p, s) => (await load()).set(p, s),
    rotate: async (p, s) => (await load()).rotate(p, s),
    remove: async (p) => (await load()).remove(p),
    status: async (p) => (await load()).status(p),
  };
}
