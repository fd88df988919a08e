/**
 * The app's UI end to end, as a user meets it: the real `cordon ui` (through
 * bin/cordon), the built renderer in Debian's Chromium under Playwright, the
 * real core, Docker Engine and a throwaway Secret Service. Every screen is
 * screenshotted into test-results/e2e/ (checked non-blank) and checked with
 * axe-core for serious and critical violations.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import WebSocket from 'ws';
import { cordonContainers, TestEnv } from '../cli/test-harness.js';
import { axeSerious, launchChromium, launchTerminalFromSetup, screenshot, shellProfile, startUi, writeManaged, type RunningUi } from './ui-harness.js';

/** Looks like a real key; must go to the keychain and never come back to the page. */
const FAKE_KEY = 'sk-ant-api03-E2E-ui-key-must-never-return-to-the-page-0123456789abcdef';

let browser: Browser;
before(async () => {
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
});

async function openUi(ui: RunningUi): Promise<{ page: Page; frames: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const frames: string[] = [];
  page.on('websocket', (ws) => {
    ws.on('framereceived', (f) => frames.push(typeof f.payload === 'string' ? f.payload : f.payload.toString('utf8')));
  });
  await page.goto(ui.url);
  await page.getByRole('navigation', { name: 'Main' }).waitFor({ timeout: 15_000 });
  return { page, frames };
}

async function checkScreen(page: Page, name: string): Promise<void> {
  await screenshot(page, name);
  const serious = await axeSerious(page);
  assert.deepEqual(serious, [], `axe-core on ${name}: ${JSON.stringify(serious)}`);
}

async function nav(page: Page, name: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name, exact: true }).click();
  await page.getByRole('heading', { level: 1 }).waitFor();
}

describe('first run', () => {
  const env = new TestEnv('e2e-first');
  let ui: RunningUi;
  before(async () => {
    ui = await startUi(env);
  });
  after(async () => {
    assert.equal(await ui.stop(), 0, ui.stderr());
    env.cleanup();
  });

  test('the key typed on Setup reaches the Secret Service and never comes back to the page', async () => {
    // The throwaway Secret Service serves the whole test run: start from no key, as a first run does.
    const cleared = await env.run(['keys', 'remove', 'anthropic']);
    assert.equal(cleared.code, 0, cleared.stderr);
    const { page, frames } = await openUi(ui);
    await nav(page, 'Setup');
    await page.getByText(/Docker Engine .* reachable/).waitFor({ timeout: 30_000 });
    await checkScreen(page, 'setup');
    await page.getByLabel('Anthropic API key').fill(FAKE_KEY);
    await page.getByRole('button', { name: 'Save key' }).click();
    await page.getByLabel('Anthropic API key').and(page.locator('input[value=""]')).waitFor();
    const status = await env.run(['keys', 'status', '--json']);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /"state": "present"/);
    await nav(page, 'Keys');
    await page.getByText('present', { exact: false }).first().waitFor();
    await checkScreen(page, 'keys');
    // Rotate, then remove (after confirming), through the same screen.
    const ROTATED = `${FAKE_KEY}-rotated`;
    await page.getByLabel('New Anthropic API key').fill(ROTATED);
    await page.getByRole('button', { name: 'Replace key' }).click();
    await page.getByRole('cell', { name: /^\d{4}-\d\d-\d\dT/ }).nth(1).waitFor({ timeout: 10_000 });
    const rotated = await env.run(['keys', 'status', '--json']);
    assert.match(rotated.stdout, /"rotatedAt": "\d{4}-/, rotated.stdout);
    await page.getByRole('button', { name: 'Remove anthropic key' }).click();
    await page.getByRole('button', { name: 'Yes, remove the anthropic key' }).click();
    await page.getByText('absent').first().waitFor({ timeout: 10_000 });
    const removed = await env.run(['keys', 'status', '--json']);
    assert.match(removed.stdout, /"state": "absent"/, removed.stdout);
    assert.equal(frames.some((f) => f.includes(ROTATED)), false, 'a frame from core carried the rotated key');
    assert.ok(frames.length > 3, 'the page talked to core over the bridge');
    assert.equal(frames.some((f) => f.includes(FAKE_KEY)), false, 'a frame from core carried the key');
    assert.equal((await page.content()).includes(FAKE_KEY), false, 'the key is in the page');
    assert.equal(ui.stderr().includes(FAKE_KEY), false);
    await page.close();
  });

  test('without a token the page says how to get the address, and core answers nothing', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const bare = ui.url.replace(/#.*$/, '');
    await page.goto(bare);
    await page.getByRole('heading', { level: 1 }).waitFor();
    assert.match(await page.getByRole('heading', { level: 1 }).innerText(), /address/i);
    assert.match(await page.locator('main, body').first().innerText(), /cordon ui/);
    await checkScreen(page, 'no-token');
    await page.close();
  });
});

describe('a session from the UI', () => {
  const env = new TestEnv('e2e-session');
  let ui: RunningUi;
  const profile = shellProfile(env);
  const ws = env.workspace('project');
  before(async () => {
    ui = await startUi(env);
  });
  after(async () => {
    assert.equal(await ui.stop(), 0, ui.stderr());
    assert.deepEqual(await env.containers(), [], 'cordon ui left a container behind');
    env.cleanup();
  });

  test('launch on a workspace, a denied curl in the terminal shows in the timeline within 2 s, Stop removes the container', async () => {
    const { page } = await openUi(ui);
    await checkScreen(page, 'home');
    const sessionId = await launchTerminalFromSetup(page, ws, profile, 'session-launch-failed');
    const terminal = page.getByTestId('terminal');
    // The shell's prompt arrives through the hosted terminal.
    await page.locator('.xterm-rows').getByText('$', { exact: false }).first().waitFor({ timeout: 30_000 });
    await terminal.click();
    await page.keyboard.type('echo in-$((6*7)) && curl -s -o /dev/null -w "connect:%{http_connect}\\n" https://blocked.example.test/');
    const typedAt = Date.now();
    await page.keyboard.press('Enter');
    const row = page.getByTestId('timeline-row').filter({ hasText: 'blocked.example.test' }).first();
    await row.waitFor({ timeout: 10_000 });
    const latency = Date.now() - typedAt;
    assert.ok(latency <= 2000, `the denial reached the timeline after ${latency} ms`);
    assert.match(await row.innerText(), /egress\.deny/);
    await page.locator('.xterm-rows').getByText('in-42').waitFor();
    await page.locator('.xterm-rows').getByText('connect:403').waitFor({ timeout: 10_000 });
    assert.equal((await cordonContainers(sessionId)).length, 1, 'the sandbox runs in Docker Engine');
    await checkScreen(page, 'session');
    // The CLI sees the app's session.
    const ps = await env.run(['ps', '--json']);
    assert.equal(ps.code, 0, ps.stderr);
    assert.ok(ps.stdout.includes(sessionId), ps.stdout);
    await page.getByRole('button', { name: 'Stop session' }).click();
    // Stopped, the app goes back to the session list, which no longer has it.
    await page.getByText('No session is running').waitFor({ timeout: 20_000 });
    const gone = await waitFor(async () => (await cordonContainers(sessionId)).length === 0, 15_000);
    assert.ok(gone, 'the container is still in Docker Engine after Stop');
    const audit = env.auditRecords().filter((r) => r.cordon['session_id'] === sessionId).map((r) => r.cordon['kind']);
    assert.ok(audit.includes('session.start') && audit.includes('egress.deny') && audit.includes('session.stop_requested'), audit.join(','));
    await nav(page, 'Audit');
    await page.getByText(/intact/).first().waitFor();
    await checkScreen(page, 'audit');
    await page.close();
  });

  test('a malformed call through the bridge names the field and launches nothing', async () => {
    const before = (await env.containers()).length;
    const socket = new WebSocket(`ws://127.0.0.1:${ui.port}/api`, ['cordon.v1', `cordon-token.${ui.token}`], { origin: `http://127.0.0.1:${ui.port}` });
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    const answer = new Promise<string>((resolve) => socket.once('message', (d: Buffer) => resolve(d.toString())));
    socket.send(JSON.stringify({ id: 7, method: 'sessions.launch', params: { workspaces: [{ path: ws, mode: 'rwx' }] } }));
    const msg = JSON.parse(await answer) as { id: number; ok: boolean; error?: { code: string; field?: string } };
    socket.close();
    assert.equal(msg.id, 7);
    assert.equal(msg.ok, false);
    assert.equal(msg.error?.code, 'invalid_request');
    assert.equal(msg.error?.field, 'workspaces.0.mode');
    assert.equal((await env.containers()).length, before);
  });

  test('the bridge refuses a missing or wrong token (401) and a foreign Host or Origin (403)', async () => {
    const status = (protocols: string[], headers: Record<string, string>): Promise<number> =>
      new Promise((resolve) => {
        const s = new WebSocket(`ws://127.0.0.1:${ui.port}/api`, protocols, { headers, origin: headers['origin'] ?? `http://127.0.0.1:${ui.port}` });
        s.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        s.once('open', () => {
          s.close();
          resolve(101);
        });
        s.once('error', () => resolve(-1));
      });
    assert.equal(await status(['cordon.v1'], {}), 401);
    assert.equal(await status(['cordon.v1', `cordon-token.${'0'.repeat(64)}`], {}), 401);
    assert.equal(await status(['cordon.v1', `cordon-token.${ui.token}`], { origin: 'http://evil.example' }), 403);
    assert.equal(await status(['cordon.v1', `cordon-token.${ui.token}`], { host: `evil.example:${ui.port}` }), 403);
    assert.equal(await status(['cordon.v1', `cordon-token.${ui.token}`], {}), 101);
  });
});

describe('managed policy in the UI', () => {
  const env = new TestEnv('e2e-policy');
  let ui: RunningUi;
  before(async () => {
    writeManaged(env, 'keys.json', { keys: { phantomTtlMinutes: 30 } });
    ui = await startUi(env);
  });
  after(async () => {
    assert.equal(await ui.stop(), 0, ui.stderr());
    env.cleanup();
  });

  test('a managed value shows locked with its source, and a managed change appears without a reload', async () => {
    const { page } = await openUi(ui);
    await nav(page, 'Policy');
    const row = page.getByRole('row').filter({ hasText: 'keys.phantomTtlMinutes' });
    await row.getByText('30', { exact: true }).waitFor();
    const text = await row.innerText();
    assert.match(text, /managed/);
    assert.match(text, /locked/);
    assert.ok(text.includes('keys.json'), text);
    await page.getByText('Managed by your organization', { exact: false }).waitFor();
    await checkScreen(page, 'policy');
    const reloads: string[] = [];
    page.on('framenavigated', (f) => reloads.push(f.url()));
    writeManaged(env, 'keys.json', { keys: { phantomTtlMinutes: 45 } });
    await row.getByText('45', { exact: true }).waitFor({ timeout: 10_000 });
    assert.deepEqual(reloads, [], 'the page reloaded');
    await page.close();
  });

  test('a role without launch sees no Launch anywhere', async () => {
    writeManaged(env, 'role.json', { role: 'viewer', features: { viewer: { launch: false } } });
    const { page } = await openUi(ui);
    await nav(page, 'Home');
    await page.getByText(/No session is running|Running sessions/).first().waitFor();
    await nav(page, 'Setup');
    await page.getByText(/Docker Engine .* reachable/).waitFor({ timeout: 30_000 });
    assert.equal(await page.getByRole('button', { name: /launch/i }).count(), 0);
    await page.close();
  });
});

async function waitFor(pred: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await pred()) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}
