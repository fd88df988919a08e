/**
 * `cordon keys set|rotate|remove|status`: manage provider API keys in the OS
 * keychain. The CLI is an adapter; storage, validation and report shapes live
 * in core/keys.
 *
 * A key is read from a hidden terminal prompt when stdin is a TTY, otherwise
 * from stdin (`op read … | cordon keys set anthropic`). It is never accepted as
 * an argument: argv shows up in `ps` for every local user and in shell history.
 */
import type { Command } from 'commander';
import { readKeyFromStream, normaliseKeyInput } from '../core/keys/key-input.js';
import type { KeyStore, KeyStoreResult } from '../core/keys/key-store.js';
import { keyStatusJson, keyStatusText, type KeyStatusEntry } from '../core/keys/key-status-report.js';
import { KNOWN_PROVIDERS, invalidProviderMessage, isValidProviderName } from '../core/keys/provider-name.js';

/** The streams the commands use; defaults to the process's own. Tests pass fakes. */
export interface KeysCommandIo {
  readonly stdin: NodeJS.ReadableStream & { readonly isTTY?: boolean; setRawMode?(mode: boolean): unknown };
  readonly stdout: { write(text: string): unknown };
  /** Prompts go here so stdout stays clean for `--json` and pipes. */
  readonly stderr: { write(text: string): unknown; readonly isTTY?: boolean };
}

/**
 * Adds the `keys` command group to `program`. `makeKeyStore` is called once per
 * invocation, only after arguments are validated, so `--help` and bad input
 * never touch the keychain. Failures end the command through commander's
 * `error()` (exit status 1) with a message that says how to fix it.
 */
export function registerKeysCommands(program: Command, makeKeyStore: () => KeyStore, io: KeysCommandIo = defaultIo()): void {
  const keys = program.command('keys').description('Manage provider API keys in the OS keychain (the sandbox only ever sees a phantom token)');

  keys
    .command('set')
    .description('Store the API key for PROVIDER; reads it from a hidden prompt, or from stdin when piped')
    .argument('<provider>', 'provider name, e.g. anthropic')
    .action(async function (this: Command, provider: string) {
      requireProvider(this, provider);
      const secret = await readKey(this, io, `API key for ${provider} (input hidden): `);
      const stored = await makeKeyStore().set(provider, secret);
      const status = orFail(this, stored);
      io.stdout.write(`Stored the API key for ${provider} in the OS keychain (set ${status.state === 'present' ? (status.lastSetAt ?? 'now') : 'now'}).\n`);
    });

  keys
    .command('rotate')
    .description('Replace the stored API key for PROVIDER; running sessions pick up the new key within seconds')
    .argument('<provider>', 'provider name, e.g. anthropic')
    .action(async function (this: Command, provider: string) {
      requireProvider(this, provider);
      const store = makeKeyStore();
      // Check before prompting so nobody types a key only to be told there is nothing to rotate.
      const before = orFail(this, await store.status(provider));
      if (before.state === 'absent') this.error(`no API key for ${provider} to rotate: run \`cordon keys set ${provider}\` first`, { exitCode: 1 });
      const secret = await readKey(this, io, `New API key for ${provider} (input hidden): `);
      const rotated = orFail(this, await store.rotate(provider, secret));
      io.stdout.write(`Rotated the API key for ${provider} (rotated ${rotated.state === 'present' ? (rotated.rotatedAt ?? 'now') : 'now'}).\n`);
    });

  keys
    .command('remove')
    .description('Delete the stored API key for PROVIDER')
    .argument('<provider>', 'provider name, e.g. anthropic')
    .action(async function (this: Command, provider: string) {
      requireProvider(this, provider);
      const removed = orFail(this, await makeKeyStore().remove(provider));
      io.stdout.write(removed ? `Removed the API key for ${provider}.\n` : `No API key was stored for ${provider}; nothing removed.\n`);
    });

  keys
    .command('status')
    .description(`Show whether a key is stored and when it was set or rotated (never the key). Default providers: ${KNOWN_PROVIDERS.join(', ')}`)
    .argument('[providers...]', 'providers to report on')
    .option('--json', 'print JSON: {"providers":[{"provider","state","lastSetAt","rotatedAt"}]}')
    .action(async function (this: Command, providers: string[], options: { json?: boolean }) {
      const names = providers.length > 0 ? [...new Set(providers)] : [...KNOWN_PROVIDERS];
      for (const name of names) requireProvider(this, name);
      const store = makeKeyStore();
      const entries: KeyStatusEntry[] = [];
      for (const provider of names) {
        const result = await store.status(provider);
        entries.push(result.ok ? { ok: true, status: result.value } : { ok: false, provider, error: result.error });
      }
      io.stdout.write(options.json === true ? `${JSON.stringify(keyStatusJson(entries), null, 2)}\n` : keyStatusText(entries));
      // A keychain that cannot be read is a failure even though a report was printed.
      if (entries.some((e) => !e.ok)) process.exitCode = 1;
    });
}

function defaultIo(): KeysCommandIo {
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };
}

function requireProvider(command: Command, provider: string): void {
  if (!isValidProviderName(provider)) command.error(invalidProviderMessage(provider), { exitCode: 2, code: 'cordon.keys.invalidProvider' });
}

function orFail<T>(command: Command, result: KeyStoreResult<T>): T {
  if (!result.ok) return command.error(result.error.message, { exitCode: 1, code: `cordon.keys.${result.error.code}` });
  return result.value;
}

async function readKey(command: Command, io: KeysCommandIo, prompt: string): Promise<string> {
  const canPrompt = io.stdin.isTTY === true && typeof io.stdin.setRawMode === 'function';
  const read = canPrompt ? await promptHidden(io, prompt) : await readKeyFromStream(io.stdin as AsyncIterable<Buffer | string>);
  return orFail(command, read);
}

/**
 * Reads one line from the terminal with echo off (raw mode), so the key is not
 * shown on screen or kept in scrollback. Ctrl-C or Ctrl-D on an empty line aborts.
 */
function promptHidden(io: KeysCommandIo, prompt: string): Promise<KeyStoreResult<string>> {
  const { stdin, stderr } = io;
  return new Promise((resolve) => {
    let typed = '';
    const onEnd = (): void => done({ ok: false, error: { code: 'invalid_secret', message: 'input ended before a key was entered; no key was stored' } });
    const done = (result: KeyStoreResult<string>): void => {
      stdin.removeListener('data', onData);
      stdin.removeListener('end', onEnd);
      stdin.setRawMode?.(false);
      stdin.pause();
      stderr.write('\n');
      resolve(result);
    };
    const onData = (chunk: Buffer | string): void => {
      for (const ch of typeof chunk === 'string' ? chunk : chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done(normaliseKeyInput(typed));
        if (ch === '\u0003' || (ch === '\u0004' && typed === '')) {
          return done({ ok: false, error: { code: 'invalid_secret', message: 'cancelled; no key was stored' } });
        }
        if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
        else typed += ch;
      }
    };
    stderr.write(prompt);
    stdin.setRawMode?.(true);
    stdin.on('data', onData);
    stdin.once('end', onEnd);
    stdin.resume();
  });
}
