/**
 * Provider names are keychain account names, CLI arguments and audit fields, so
 * they are kept to a small, boring alphabet: nothing that could be mistaken for
 * a flag, a path or a separator used by the metadata entries.
 */
export const PROVIDER_NAME_PATTERN = /^[a-z][a-z0-9_-]{0,31}$/;

/** Providers `cordon keys status` reports on even when nothing is stored for them. */
export const KNOWN_PROVIDERS: readonly string[] = ['anthropic', 'openai'];

/** True when `name` is a valid provider name (lowercase, starts with a letter, ≤ 32 chars). */
export function isValidProviderName(name: string): boolean {
  return PROVIDER_NAME_PATTERN.test(name);
}

/**
 * A human message for an invalid provider name. The name is echoed only when it
 * is short and printable: someone who pastes their API key where the provider
 * goes must not see it printed back into their terminal scrollback or CI log.
 */
export function invalidProviderMessage(name: string): string {
  const shown = /^[a-zA-Z0-9_.-]{1,32}$/.test(name) ? ` "${name}"` : '';
  return `invalid provider name${shown}: use lowercase letters, digits, "-" or "_", starting with a letter, at most 32 characters (e.g. anthropic)`;
}
