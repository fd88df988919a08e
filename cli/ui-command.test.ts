import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { CliExit } from './cli-exit.js';
import { browserCommand } from './desktop-open.js';
import { parsePort, writeLaunchPage } from './ui-command.js';

const base = realpathSync(mkdtempSync(join(tmpdir(), 'cordon-ui-unit-')));
after(() => rmSync(base, { recursive: true, force: true }));
const URL_WITH_TOKEN = `http://127.0.0.1:4242/#token=${'c'.repeat(64)}`;

test('ui: --port accepts 0..65535 and refuses anything else as a usage error', () => {
  assert.equal(parsePort(undefined), 0);
  assert.equal(parsePort('0'), 0);
  assert.equal(parsePort('65535'), 65535);
  for (const bad of ['65536', '-1', '80x', '', '1e3', ' 80']) {
    assert.throws(
      () => parsePort(bad),
      (e: unknown) => e instanceof CliExit && e.code === 2,
      bad,
    );
  }
});

test('ui --open: the browser gets a file path, never the tokened URL, on every platform', () => {
  for (const platform of ['linux', 'darwin', 'win32', 'freebsd'] as const) {
    const [cmd, args] = browserCommand(platform, '/tmp/x/open-cordon.html');
    assert.ok(cmd.length > 0);
    assert.equal(args.at(-1), '/tmp/x/open-cordon.html', platform);
    assert.ok(!args.join(' ').includes('token'), platform);
  }
});

test('ui --open: the launch page is readable by this user only and is removed', () => {
  const page = writeLaunchPage(URL_WITH_TOKEN, base);
  assert.equal(statSync(page.file).mode & 0o777, 0o600);
  assert.equal(statSync(dirname(page.file)).mode & 0o777, 0o700);
  const html = readFileSync(page.file, 'utf8');
  assert.ok(html.includes(`content="0;url=${URL_WITH_TOKEN}"`), html);
  assert.ok(html.includes('<meta name="referrer" content="no-referrer">'));
  page.remove();
  assert.equal(existsSync(dirname(page.file)), false);
});
