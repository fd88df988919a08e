/**
 * The inspection CA's key in the OS keychain: the same keychain, backend and
 * error classification as the API keys (`keyring-key-store.ts`), under
 * account `ca:inspection` of service `cordon`. A `:` cannot appear in a
 * provider or credential name, so `cordon keys set` can never overwrite it.
 */
import { classifyKeyringError, napiKeyringBackend, type KeyringBackend } from '../keys/keyring-key-store.js';
import { fail, type KeyStoreResult } from '../keys/key-store.js';
import type { CaKeySlot } from './inspection-ca.js';

export const CA_KEY_ACCOUNT = 'ca:inspection';

export class KeyringCaKeySlot implements CaKeySlot {
  constructor(
    private readonly service = 'cordon',
    private readonly backend: KeyringBackend = napiKeyringBackend,
  ) {}

  async get(): Promise<KeyStoreResult<string | null>> {
    try {
      return { ok: true, value: await this.backend.open(this.service, CA_KEY_ACCOUNT).getPassword() };
    } catch (e) {
      const error = classifyKeyringError(e);
      return fail(error.code, error.message);
    }
  }

  async set(value: string): Promise<KeyStoreResult<void>> {
    try {
      await this.backend.open(this.service, CA_KEY_ACCOUNT).setPassword(value);
      return { ok: true, value: undefined };
    } catch (e) {
      const error = classifyKeyringError(e);
      return fail(error.code, error.message);
    }
  }
}
