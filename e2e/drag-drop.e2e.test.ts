/**
 * Drag-and-drop onto a session end to end (issue 18, item 4): the real
 * `cordon ui`, the built renderer in Debian's Chromium, and a real sandbox
 * the UI hosts (a shell in its terminal). Files are dropped the way a
 * browser delivers them: a `drop` event whose DataTransfer holds File
 * objects built in the page, so the renderer has bytes and no host path.
 *
 * What it holds (docs/threat-model-gate.md G18-G20, G12): a text file with
 * an AWS-style key arrives in cordon-inbox redacted, checked from inside the
 * sandbox by the session's own shell; a .docx labelled Confidential is
 * refused and the UI shows why; a file over the browser's bound is refused
 * before it is sent; under `ask` a file is listed as waiting for approval
 * until the prompt is answered; neither the UI nor the audit log shows the key.
 *
 * Out of the sandbox (G21): in a conversation, a changed file the agent
 * wrote with a key is saved through the gate as a browser download holding
 * the redacted bytes; a link the agent planted to a host file is refused.
 * The app's drag-out (`webContents.startDrag`) needs Electron, which this
 * machine cannot run: it is not tested here.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { DROP_CONTENT_MAX_BYTES } from '../core/api/transfer-contract.js';
import { docxFixture } from '../core/testing/zip-writer.js';
import { cordonContainers, TestEnv } from '../cli/test-harness.js';
import { axeSerious, launchChromium, launchTerminalFromSetup, screenshot, shellProfile, startUi, type RunningUi } from './ui-harness.js';

/** An AWS-style access key id (not AWS's documentation example, which DLP lets through on purpose). */
const KEY = 'AKIAZ3MXQ7VJ2XKLP4NQ';
const DOC_TEXT = 'Merger plan, do not share';

const env = new TestEnv('e2e-dnd');
writeFileSync(join(env.cordonHome, 'policy.json'), JSON.stringify({ gates: { dragDrop: { blockLabels: ['Confidential'] } } }));
const profile = shellProfile(env);
const ws = env.workspace('project');
let browser: Browser;
let ui: RunningUi;

before(async () => {
  browser = await launchChromium();
  ui = await startUi(env);
});
after(async () => {
  await browser?.close();
  if (ui) assert.equal(await ui.stop(), 0, ui.stderr());
  assert.deepEqual(await env.containers(), [], 'cordon ui left a container behind');
  env.cleanup();
});

/**
 * Drops FILES (name, bytes, type) on the session screen as a browser would:
 * dragenter, dragover, drop, with one DataTransfer built in the page.
 */
async function dropFiles(page: Page, files: ReadonlyArray<{ name: string; bytes: Buffer; type: string }>, opts: { shotWhileOver?: string } = {}): Promise<void> {
  const spec = JSON.stringify(files.map((f) => ({ name: f.name, b64: f.bytes.toString('base64'), type: f.type })));
  // A string evaluated in the page: this file compiles without the DOM's types.
  const dt = await page.evaluateHandle(
    `(() => { const dt = new DataTransfer(); for (const f of ${spec}) { const b = Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0)); dt.items.add(new File([b], f.name, { type: f.type })); } return dt; })()`,
  );
  const zone = '[data-testid="session-drop-zone"]';
  await page.dispatchEvent(zone, 'dragenter', { dataTransfer: dt });
  await page.dispatchEvent(zone, 'dragover', { dataTransfer: dt });
  if (opts.shotWhileOver !== undefined) {
    await page.locator('.drop-overlay').waitFor();
    await screenshot(page, opts.shotWhileOver);
  }
  await page.dispatchEvent(zone, 'drop', { dataTransfer: dt });
  await dt.dispose();
}

/** The outcome entry for NAME once the gate has answered (not "Checking"). */
async function outcome(page: Page, name: string): Promise<{ status: string; text: string }> {
  const li = page.locator('[data-testid="drop-outcome"]:not([data-status="checking"]):not([data-status="waiting"])').filter({ hasText: name }).first();
  await li.waitFor({ timeout: 30_000 });
  return { status: (await li.getAttribute('data-status')) ?? '', text: await li.innerText() };
}

test('files dropped on a running session: a key arrives redacted inside the sandbox, a Confidential .docx is refused with the reason shown, an oversized file is refused before sending', { timeout: 240_000 }, async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(ui.url);
  const sessionId = await launchTerminalFromSetup(page, ws, profile, 'drop-launch-failed');
  assert.equal((await cordonContainers(sessionId)).length, 1, 'the sandbox runs in Docker Engine');
  await page.locator('.xterm-rows').getByText('$', { exact: false }).first().waitFor({ timeout: 30_000 });

  // 1. A text file holding a key: it arrives, redacted.
  await dropFiles(page, [{ name: 'env.txt', bytes: Buffer.from(`AWS_ACCESS_KEY_ID=${KEY}\nregion=eu-west-1\n`), type: 'text/plain' }], { shotWhileOver: 'drop-over-session' });
  const env1 = await outcome(page, 'env.txt');
  assert.equal(env1.status, 'redacted', env1.text);
  assert.match(env1.text, /^Arrived redacted\s+env\.txt\s+Redacted: aws_access_key_id ×1\. Now at /);
  assert.match(await page.locator('.drop-outcomes h2').innerText(), new RegExp(`Dropped into session ${sessionId}`));
  assert.ok(env1.text.includes(join(ws, 'cordon-inbox', 'env.txt')), env1.text);

  // Checked from inside the sandbox, by the session's own shell.
  await page.getByTestId('terminal').click();
  await page.keyboard.type('echo "inbox:$(head -1 cordon-inbox/env.txt):end"');
  await page.keyboard.press('Enter');
  await page.locator('.xterm-rows').getByText('inbox:AWS_ACCESS_KEY_ID=[REDACTED:aws_access_key_id]:end').waitFor({ timeout: 15_000 });

  // 2. A .docx labelled Confidential: refused, and the UI says why.
  const docx = docxFixture([DOC_TEXT], { name: 'Confidential', id: '1a2b3c4d-1111-2222-3333-444455556666' });
  await dropFiles(page, [{ name: 'plan.docx', bytes: docx, type: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document' }]);
  const doc = await outcome(page, 'plan.docx');
  assert.equal(doc.status, 'refused', doc.text);
  assert.match(doc.text, /Refused\s+plan\.docx\s+file "plan\.docx": sensitivity label "Confidential" is blocked by policy .*\(blocked_label\)/);
  assert.equal(existsSync(join(ws, 'cordon-inbox', 'plan.docx')), false, 'the refused document was written');

  // 3. Over the browser's bound: refused in the page, nothing sent.
  await dropFiles(page, [{ name: 'big.bin', bytes: Buffer.alloc(DROP_CONTENT_MAX_BYTES + 1, 0x61), type: 'application/octet-stream' }]);
  const big = await outcome(page, 'big.bin');
  assert.equal(big.status, 'refused', big.text);
  assert.match(big.text, /737,281 bytes; the browser UI carries files up to 737,280 bytes\. Use `cordon drop [0-9a-f]{12} FILE`.*\(too_large\)/);
  assert.equal(existsSync(join(ws, 'cordon-inbox', 'big.bin')), false);

  await page.locator('.drop-outcomes').scrollIntoViewIfNeeded();
  await screenshot(page, 'drop-outcomes');
  const serious = await axeSerious(page);
  assert.deepEqual(serious, [], `axe-core on the drop outcomes: ${JSON.stringify(serious)}`);

  // The inside holds what the gate passed; nothing shows or records the key or the document's text.
  assert.equal(readFileSync(join(ws, 'cordon-inbox', 'env.txt'), 'utf8'), 'AWS_ACCESS_KEY_ID=[REDACTED:aws_access_key_id]\nregion=eu-west-1\n');
  const pageText = await page.locator('body').innerText();
  assert.ok(!pageText.includes(KEY) && !pageText.includes(DOC_TEXT), 'the page shows transferred content');
  const transfers = env.auditRecords().filter((r) => String(r.cordon['kind']).startsWith('gate.') && r.cordon['session_id'] === sessionId);
  assert.deepEqual(
    transfers.map((r) => r.cordon['kind']),
    ['gate.redact', 'gate.deny'],
    'one audit record per file the gate judged (the oversized one never reached it)',
  );
  const audit = JSON.stringify(env.auditRecords());
  assert.ok(!audit.includes(KEY) && !audit.includes(DOC_TEXT), 'the audit log holds transferred content');

  // 4. With gates.dragDrop.toSandbox "ask" (read on every drop), a file waits for the user's answer, and the list says so.
  writeFileSync(join(env.cordonHome, 'policy.json'), JSON.stringify({ gates: { dragDrop: { toSandbox: 'ask', blockLabels: ['Confidential'] } } }));
  await dropFiles(page, [{ name: 'notes.txt', bytes: Buffer.from('meeting at noon\n'), type: 'text/plain' }]);
  await page.locator('[data-testid="drop-outcome"][data-status="waiting"]').filter({ hasText: 'notes.txt' }).waitFor({ timeout: 30_000 });
  await page.getByTestId('approval-prompt').waitFor({ timeout: 30_000 });
  assert.equal(existsSync(join(ws, 'cordon-inbox', 'notes.txt')), false, 'the file went in before anyone answered');
  // The user dropped it: the prompt says the gate asks, not the agent.
  assert.match(await page.getByTestId('approval-prompt').innerText(), /Why Cordon's gate asks/);
  await screenshot(page, 'drop-waiting-for-approval');
  await page.keyboard.press('Alt+Shift+KeyA');
  await page.locator('[data-testid="approval-prompt"][data-armed="true"]').waitFor({ timeout: 5_000 });
  await page.keyboard.press('o');
  const notes = await outcome(page, 'notes.txt');
  assert.equal(notes.status, 'arrived', notes.text);
  assert.equal(readFileSync(join(ws, 'cordon-inbox', 'notes.txt'), 'utf8'), 'meeting at noon\n');

  await page.getByRole('button', { name: 'Stop session' }).click();
  // Stopping waits for Docker to remove the container: slow on a loaded machine (one run here took over 20 s).
  await page.getByText('No session is running').waitFor({ timeout: 45_000 });
  await page.close();
});

test('a changed file saved from the files panel is a download of what the gate passed; a planted link is refused', { timeout: 240_000 }, async () => {
  const chatWs = env.workspace('chat-project');
  // A plain-text agent (one run per turn) that leaves a key-bearing report and a link to a host file.
  const script = `printf 'card ${KEY}\\n' > report.txt; ln -sf /etc/hostname planted.txt; cat`;
  const agent = env.profile('writer', 'standard', { description: 'writes a report (tests)', agent: 'generic', command: ['sh', '-c', script], provider: undefined });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  await page.goto(ui.url);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Setup', exact: true }).click();
  await page.getByLabel('Workspace folder (absolute path)').fill(chatWs);
  await page.getByLabel('Profile').selectOption(agent);
  await page.getByRole('button', { name: 'Launch', exact: true }).click();
  await page.getByTestId('chat-state').filter({ hasText: 'Ready' }).waitFor({ timeout: 90_000 });
  await page.getByRole('textbox', { name: 'Message' }).fill('write the report');
  await page.getByRole('textbox', { name: 'Message' }).press('Enter');
  const panel = page.getByTestId('files-panel');
  await panel.getByTestId('file-change').filter({ hasText: 'report.txt' }).click({ timeout: 30_000 });

  const download = page.waitForEvent('download', { timeout: 30_000 });
  await page.getByTestId('take-download').click();
  const saved = await (await download).path();
  assert.equal(readFileSync(saved, 'utf8'), 'card [REDACTED:aws_access_key_id]\n', 'the download is not what the gate passed');
  assert.match(await page.getByTestId('take-outcome').innerText(), /Saved a redacted copy/);
  await screenshot(page, 'take-download-redacted');

  await panel.getByTestId('file-change').filter({ hasText: 'planted.txt' }).click({ timeout: 30_000 });
  await page.getByTestId('take-download').click();
  const refused = page.getByTestId('take-outcome').filter({ hasText: 'Refused by the gate' });
  await refused.waitFor({ timeout: 15_000 });
  assert.match(await refused.innerText(), /\(outside_workspace\)/);
  await screenshot(page, 'take-planted-link-refused');
  const audit = JSON.stringify(env.auditRecords());
  assert.ok(!audit.includes(KEY), 'the audit log holds the key');
  await page.getByTestId('chat-end').click();
  await page.close();
});
