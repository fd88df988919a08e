import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { installRoot } from '../core/paths/install-root.js';

/** Raised inside a command to end the CLI with a message and an exit code; never a stack trace. */
export class CliExit extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export function productVersion(): string {
  const pkg = JSON.parse(readFileSync(join(installRoot(), 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}
