/**
 * Test support for the UI's end-to-end tests: the real `cordon ui` (through
 * bin/cordon, with a throwaway HOME, CORDON_HOME and policy folder) and
 * Debian's Chromium driven by Playwright. Screenshots go to
 * test-results/e2e/ and are checked to be more than a blank page.
 * Not a test itself.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { REPO_ROOT, TestEnv } from '../cli/test-harness.js';
import { pngStats } from './png-check.js';

export const CHROMIUM = '/usr/bin/chromium';
/** Where screenshots are kept with the test results. */
export const SHOT_DIR = join(REPO_ROOT, 'test-results', 'e2e');
/** The line `cordon ui` prints; other tools parse it. */
export const UI_LINE = /^Cordon UI: (http:\/\/127\.0\.0\.1:(\d+)\/#token=([0-9a-f]{64}))$/m;

export interface RunningUi {
  readonly url: string;
  readonly port: number;
  readonly token: string;
  readonly child: ChildProcess;
  stderr(): string;
  stop(): Promise<number | null>;
}

/** Starts `cordon ui --port 0` in ENV and waits for its URL line. */
export async function startUi(env: TestEnv, extraArgs: readonly string[] = []): Promise<RunningUi> {
  const child = env.spawn(['ui', '--port', '0', ...extraArgs]);
  let out = '';
  let err = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (err += b.toString()));
  const m = await new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`cordon ui printed no URL within 20 s; stdout: ${out} stderr: ${err}`)), 20_000);
    const check = (): void => {
      const found = UI_LINE.exec(out);
      if (found) {
        clearTimeout(timer);
        resolve(found);
      }
    };
    child.stdout?.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`cordon ui exited with ${code}; stdout: ${out} stderr: ${err}`));
    });
  });
  return {
    url: m[1] ?? '',
    port: Number(m[2]),
    token: m[3] ?? '',
    child,
    stderr: () => err,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill('SIGTERM');
      }),
  };
}

/** Debian's Chromium, headless, with the flags this machine needs as root and no traffic but loopback. */
export function launchChromium(): Promise<Browser> {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium package (scripts/setup.sh does)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic', '--disable-dev-shm-usage'],
  });
}

/** Saves a full-page screenshot of PAGE as NAME.png and checks it is not blank. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SHOT_DIR, { recursive: true });
  const file = join(SHOT_DIR, `${name}.png`);
  const png = await page.screenshot({ path: file, fullPage: false });
  const stats = pngStats(png);
  assert.ok(stats.colours >= 8 && stats.inked >= 0.005, `screenshot ${name} looks blank: ${JSON.stringify(stats)}`);
  return file;
}

export interface AxeViolation {
  readonly id: string;
  readonly impact: string | null;
  readonly help: string;
  readonly nodes: number;
}

/**
 * Runs axe-core in PAGE and returns serious and critical violations. The
 * script is evaluated through the DevTools protocol, which the page's CSP
 * (script-src 'self') does not govern, so the page's own CSP stays on.
 */
export async function axeSerious(page: Page): Promise<AxeViolation[]> {
  const source = readFileSync(join(REPO_ROOT, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
  await page.evaluate(`${source}\n;void 0`);
  // A string, evaluated in the page: this file compiles without the DOM's types.
  const violations = await page.evaluate<AxeViolation[]>(
    `axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length })))`,
  );
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** A user profile whose agent is a login shell, for driving the embedded terminal with plain commands. */
export function shellProfile(env: TestEnv, name = 'shell'): string {
  return env.profile(name, 'standard', { description: 'A shell in the standard sandbox (tests)', agent: 'generic', command: ['bash', '-i'], provider: undefined });
}

/**
 * Launches a terminal session as a user does: Setup, the workspace WS, the
 * profile PROFILE, "Terminal (for developers)", Launch. Waits for the session
 * screen's terminal and returns the session id from its heading; when the
 * terminal never comes, saves SHOT_ON_FAILURE and fails with what the page says.
 */
export async function launchTerminalFromSetup(page: Page, ws: string, profile: string, shotOnFailure = 'launch-failed'): Promise<string> {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Setup', exact: true }).click();
  await page.getByLabel('Workspace folder (absolute path)').fill(ws);
  await page.getByLabel('Profile').selectOption(profile);
  await page.getByRole('radio', { name: /^Terminal \(for developers\)/ }).check();
  await page.getByRole('button', { name: 'Launch', exact: true }).click();
  await page
    .getByTestId('terminal')
    .waitFor({ timeout: 60_000 })
    .catch(async (err: unknown) => {
      await screenshot(page, shotOnFailure);
      const alerts = await page.locator('[role="alert"], .notice-error, .statusbar').allInnerTexts();
      throw new Error(`launch did not reach the terminal: ${alerts.join(' | ')} (${String(err)})`);
    });
  const heading = await page.getByRole('heading', { level: 1 }).innerText();
  const sessionId = /Session ([0-9a-f]{12})/.exec(heading)?.[1] ?? '';
  assert.match(sessionId, /^[0-9a-f]{12}$/, heading);
  return sessionId;
}

/** Writes a mandatory managed policy file. */
export function writeManaged(env: TestEnv, file: string, doc: unknown): void {
  writeFileSync(join(env.policyDir, 'managed', file), JSON.stringify(doc, null, 2));
}
