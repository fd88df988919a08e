/**
 * The approval prompt end to end (issue 17, item 5): the real `cordon ui`,
 * the built renderer in Debian's Chromium, a real sandbox (`cordon exec`,
 * another process, as a terminal user would start it) whose curl asks about
 * hosts the allow list does not name. Names are pinned to loopback
 * (`egress.resolve`) and the destination is a loopback HTTP server: nothing
 * leaves the machine.
 *
 * What it holds (docs/threat-model-app.md, items 20-21): the prompt appears
 * while the user types in a text field without taking focus, and letters
 * typed there do not answer it; Alt+Shift+A brings the keyboard in; O allows
 * once (curl gets 200), D denies (403 with X-Cordon-Deny); Escape answers
 * nothing; the agent's reason is text, never markup; a real
 * `cordon-request-access` answered with W and H gets a writable grant.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, Locator, Page } from 'playwright-core';
import { assertYesAllowedNoDenied, collect, curlProbe, recordingServer, TestEnv } from '../cli/test-harness.js';
import { axeSerious, launchChromium, screenshot, startUi, type RunningUi } from './ui-harness.js';

const env = new TestEnv('e2e-approvals');
let browser: Browser;
let ui: RunningUi;
let server: Awaited<ReturnType<typeof recordingServer>>;

before(async () => {
  server = await recordingServer();
  writeFileSync(
    join(env.cordonHome, 'policy.json'),
    JSON.stringify({ egress: { mode: 'ask', allowRanges: ['127.0.0.0/8'], resolve: { 'yes.test': '127.0.0.1', 'no.test': '127.0.0.1' } }, approvals: { timeoutSeconds: 120 } }),
  );
  browser = await launchChromium();
  ui = await startUi(env);
});
after(async () => {
  await browser?.close();
  if (ui) assert.equal(await ui.stop(), 0, ui.stderr());
  await server?.close();
  env.cleanup();
});

/** The UI on its Setup screen, and the text field the user types in while requests arrive. */
async function openSetup(): Promise<{ page: Page; field: Locator }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(ui.url);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Setup', exact: true }).click();
  return { page, field: page.getByLabel('Workspace folder (absolute path)') };
}

/** What has focus: the tag and, for a field, its value; for the prompt, its test id. */
function focused(page: Page): Promise<string> {
  return page.evaluate<string>(
    `(() => { const a = document.activeElement; if (!a) return 'none'; if (a.dataset && a.dataset.testid) return 'testid:' + a.dataset.testid; return a.tagName + ('value' in a ? ':' + a.value : ''); })()`,
  );
}

async function promptFor(page: Page, text: string): Promise<string> {
  const prompt = page.getByTestId('approval-prompt');
  await prompt.filter({ hasText: text }).waitFor({ timeout: 90_000 });
  return (await prompt.getAttribute('data-request-id')) ?? '';
}

/** The keys count only once the prompt has shown the request for a moment (the double-press guard). */
async function armed(page: Page): Promise<void> {
  await page.locator('[data-testid="approval-prompt"][data-armed="true"]').waitFor({ timeout: 5_000 });
}

async function checkScreen(page: Page, name: string): Promise<void> {
  await screenshot(page, name);
  const serious = await axeSerious(page);
  assert.deepEqual(serious, [], `axe-core on ${name}: ${JSON.stringify(serious)}`);
}

async function status(id: string): Promise<string | undefined> {
  const r = await env.run(['approvals', 'list', '--json']);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as Array<{ id: string; status: string }>).find((x) => x.id === id)?.status;
}

const CURL = (host: string): string => curlProbe(host, server.port, 100);

test('a request arrives while the user types: focus stays in the field; the shortcut and O allow once (200), D denies (403)', async () => {
  const { page, field } = await openSetup();
  await field.fill('typing-here');
  assert.equal(await focused(page), 'INPUT:typing-here');

  const ws = env.workspace('ws');
  const run = collect(env.spawn(['exec', '--workspace', ws, '--', 'sh', '-c', `${CURL('yes.test')}; ${CURL('no.test')}`]), undefined, 240_000);
  const yes = await promptFor(page, `yes.test`);
  assert.match(yes, /^[0-9a-f]{16}$/);
  assert.equal(await focused(page), 'INPUT:typing-here', 'the prompt took focus from a text field');
  // What the user types next goes to the field, not to the prompt: "d" and "o" answer nothing.
  await page.keyboard.type('do');
  assert.equal(await focused(page), 'INPUT:typing-heredo');
  assert.equal(await status(yes), 'pending', 'letters typed in a field answered the prompt');
  assert.deepEqual(server.hits, [], 'the request went out before anyone answered');
  const prompt = page.getByTestId('approval-prompt');
  assert.match(await prompt.innerText(), /Resolved address\s+127\.0\.0\.1/);
  assert.match(await prompt.innerText(), new RegExp(`Port\\s+${server.port}`));
  assert.match(await prompt.innerText(), /Denied automatically in \d+ (s|min)/);
  assert.match(await page.locator('.statusbar [role="status"]').innerText(), /asks for network access to yes\.test.*Alt\+Shift\+A/);
  await checkScreen(page, 'approval-prompt-while-typing');

  await page.keyboard.press('Alt+Shift+KeyA');
  assert.equal(await focused(page), 'testid:approval-prompt', 'the shortcut did not bring focus to the prompt');
  await armed(page);
  await checkScreen(page, 'approval-prompt-focused');
  await page.keyboard.press('o');
  // Answered: focus goes back to the field, and the next request does not take it.
  const no = await promptFor(page, 'no.test');
  assert.notEqual(no, yes);
  assert.equal(await focused(page), 'INPUT:typing-heredo', 'focus did not return to the field after the answer');
  assert.equal(await status(yes), 'allowed');
  await page.keyboard.press('Alt+Shift+KeyA');
  assert.equal(await focused(page), 'testid:approval-prompt');
  await armed(page);
  await page.keyboard.press('d');
  await prompt.waitFor({ state: 'detached', timeout: 10_000 });

  const r = await run;
  assertYesAllowedNoDenied(r, server);
  const answers = env.auditRecords().filter((a) => a.cordon['kind'] === 'approval.answer');
  assert.deepEqual(
    answers.map((a) => [a.cordon['id'], a.cordon['decision'], a.cordon['scope'], a.cordon['by']]),
    [
      [yes, 'allow', 'once', 'user'],
      [no, 'deny', null, 'user'],
    ],
  );
  await page.close();
});

test('a real file request from a sandbox: the reason is text, Escape answers nothing, "always" is disabled where managed policy locks it, W and H allow with write for an hour, and the agent writes through the grant; the Approvals screen lists who decided', async () => {
  const { page, field } = await openSetup();
  await field.fill('x');
  // Managed policy owns the pre-approvals list: "always" on a folder cannot be written.
  const lock = join(env.policyDir, 'managed', 'lock.json');
  writeFileSync(lock, JSON.stringify({ approvals: { preApproved: [] } }));
  const ws = env.workspace('ws-file');
  const reports = env.workspace('Reports');
  const lure = '<img src="http://127.0.0.1:9/x" onerror="document.title=\'pwned\'">Cordon needs this to save your work: press A';
  const script = [
    `p=$(cordon-request-access ${reports} --write --reason '${lure.replaceAll("'", "'\\''")}')`,
    'echo "rc=$? path=$p"',
    'echo "quarterly numbers" > "$p/q4.txt" && echo WROTE',
  ].join('\n');
  const run = collect(env.spawn(['exec', '--workspace', ws, '--', 'sh', '-c', script]), undefined, 240_000);
  const id = await promptFor(page, reports);
  const prompt = page.getByTestId('approval-prompt');
  assert.equal(await page.getByTestId('approval-reason').innerText(), lure, 'the reason is not shown as plain text');
  assert.equal(await prompt.locator('img').count(), 0);
  assert.notEqual(await page.title(), 'pwned');
  const text = await prompt.innerText();
  assert.match(text, /Cordon classifies it as\s+outside the session's workspaces/);
  assert.match(text, /\/run\/cordon\/grants\/Reports/);
  assert.match(text, /The agent's own words/);
  assert.equal(await prompt.getByRole('button', { name: /Always allow/ }).isDisabled(), true);
  assert.match(text, /approvals\.preApproved is locked/);
  assert.equal(await prompt.getByRole('checkbox', { name: /Also allow writing/ }).isChecked(), false);
  await checkScreen(page, 'approval-prompt-file');

  await page.keyboard.press('Alt+Shift+KeyA');
  await armed(page);
  await page.keyboard.press('Escape');
  assert.equal(await focused(page), 'INPUT:x', 'Escape did not return focus to the field');
  assert.equal(await status(id), 'pending', 'Escape answered the request');
  assert.equal(await prompt.isVisible(), true);
  await page.keyboard.press('Alt+Shift+KeyA');
  await page.keyboard.press('a');
  assert.equal(await status(id), 'pending', '"always" where it is unavailable answered something');
  await page.keyboard.press('w');
  assert.equal(await prompt.getByRole('checkbox', { name: /Also allow writing/ }).isChecked(), true);
  await page.keyboard.press('h');
  const r = await run;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^rc=0 path=\/run\/cordon\/grants\/Reports$/m);
  assert.match(r.stdout, /^WROTE$/m);
  assert.equal(readFileSync(join(reports, 'q4.txt'), 'utf8'), 'quarterly numbers\n', 'the grant did not reach the host folder');
  const answer = env.auditRecords().find((a) => a.cordon['kind'] === 'approval.answer' && a.cordon['id'] === id);
  assert.equal(answer?.cordon['scope'], 'duration');
  assert.equal(answer?.cordon['write'], true);
  const until = Date.parse(String(answer?.cordon['until'])) - Date.parse(String(answer?.['time_dt']));
  assert.ok(Math.abs(until - 3_600_000) < 10_000, `an hour, got ${until} ms`);
  rmSync(lock);

  await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Approvals', exact: true }).click();
  const recent = page.getByRole('table', { name: 'Requests decided in the last hour' });
  await recent.getByRole('row').nth(3).waitFor({ timeout: 10_000 });
  const rows = await recent.getByRole('row').allInnerTexts();
  assert.equal(rows.length, 4, rows.join('\n'));
  assert.match(rows[1] ?? '', /Reports.*Allowed until .* with write by the user/s);
  assert.match(rows[2] ?? '', /no\.test.*Denied by the user/s);
  assert.match(rows[3] ?? '', /yes\.test.*Allowed once by the user/s);
  await checkScreen(page, 'approvals-screen');
  await page.close();
});
