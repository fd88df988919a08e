/**
 * Quarantine from the app (issue 20): the real `cordon ui` in Debian's
 * Chromium, a session launched from Setup into Docker Engine, and the
 * session screen's Quarantine button — asked once with a reason, then the
 * evidence bundle's path on screen, the bundle on disk, the sandbox stopped
 * and kept. Cleans up through `cordon quarantine purge`.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { cordonContainers, TestEnv } from '../cli/test-harness.js';
import { axeSerious, launchChromium, launchTerminalFromSetup, screenshot, shellProfile, startUi, type RunningUi } from './ui-harness.js';

const env = new TestEnv('e2e-q');
let browser: Browser;
let ui: RunningUi;

before(async () => {
  browser = await launchChromium();
  ui = await startUi(env);
});
after(async () => {
  await browser?.close();
  if (ui) assert.equal(await ui.stop(), 0, ui.stderr());
  env.cleanup();
});

test('the session screen quarantines with one confirmed action: the evidence path is shown, the bundle exists, the sandbox is stopped and kept', async () => {
  const ws = env.workspace('ws');
  const profile = shellProfile(env);
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(ui.url);
  const sessionId = await launchTerminalFromSetup(page, ws, profile, 'session-quarantine-launch-failed');

  await page.getByRole('button', { name: 'Quarantine…' }).click();
  const confirm = page.getByRole('group', { name: `Confirm quarantining session ${sessionId}` });
  await confirm.getByLabel('Reason (optional)').fill('e2e: suspicious egress');
  await screenshot(page, 'session-quarantine-confirm');
  assert.deepEqual(await axeSerious(page), []);
  await confirm.getByRole('button', { name: 'Yes, quarantine now' }).click();
  const done = page.getByTestId('quarantined');
  await done.waitFor({ timeout: 60_000 });
  const bundle = /Evidence bundle: (\S+\.tar\.gz)/.exec(await done.innerText())?.[1] ?? '';
  assert.ok(bundle.startsWith(env.cordonHome) && existsSync(bundle), `no bundle at ${bundle}`);
  await screenshot(page, 'session-quarantined');

  const records = env.auditRecords().filter((r) => r.cordon['session_id'] === sessionId && String(r.cordon['kind']).startsWith('quarantine.'));
  assert.ok(records.length > 0, 'no quarantine record in the audit log');
  assert.match(JSON.stringify(records.map((r) => r.cordon)), /suspicious egress/);
  // Kept for investigation: a container of this session is still in the engine, and not running.
  const kept = await cordonContainers(sessionId);
  assert.ok(kept.length >= 1, 'nothing of the session was kept');
  assert.ok(kept.every((c) => c.State !== 'running'), kept.map((c) => c.State).join(','));
  const purge = await env.run(['quarantine', 'purge', sessionId]);
  assert.equal(purge.code, 0, purge.stderr);
  await page.close();
});
