/**
 * The generic adapter's turn loop, run by the host's real /bin/sh with real
 * agents (coreutils): the same script the sandbox runs.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { test } from 'node:test';
import type { AgentEvent } from './agent-adapter.js';
import { PromptTextAdapter } from './prompt-text-adapter.js';

function runLoop(agent: string[]) {
  const a = new PromptTextAdapter();
  const [cmd, ...args] = a.command(agent);
  const child = spawn(cmd ?? 'sh', args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const d = a.decoder();
  const events: AgentEvent[] = [];
  const waiters: Array<() => void> = [];
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    events.push(...d.push(c));
    for (const w of waiters.splice(0)) w();
  });
  const until = (pred: () => boolean, ms = 10_000): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out; events: ${JSON.stringify(events)}`)), ms);
      const check = (): void => {
        if (pred()) {
          clearTimeout(timer);
          resolve();
        } else waiters.push(check);
      };
      check();
    });
  const ends = (): number => events.filter((e) => e.type === 'turn_end').length;
  const text = (): string => events.map((e) => (e.type === 'text' ? e.text : '')).join('');
  return { a, child, events, until, ends, text };
}

test('each turn runs the agent afresh with the prompt on stdin and ends with its status', async () => {
  const { a, child, events, until, ends, text } = runLoop(['tr', 'a-z', 'A-Z']);
  child.stdin.write(a.encodeTurn('hello "world" $(id) `x`\nsecond line'));
  await until(() => ends() === 1);
  assert.equal(text(), 'HELLO "WORLD" $(ID) `X`\nSECOND LINE\n');
  child.stdin.write(a.encodeTurn('again'));
  await until(() => ends() === 2);
  assert.equal(text().endsWith('AGAIN\n'), true);
  assert.deepEqual(events.filter((e) => e.type === 'turn_end'), [
    { type: 'turn_end', ok: true, interrupted: false, message: null },
    { type: 'turn_end', ok: true, interrupted: false, message: null },
  ]);
  child.stdin.end();
  assert.equal(await new Promise((r) => child.on('close', r)), 0);
});

test('a failing agent ends its turn with its exit status', async () => {
  const { a, child, events, until, ends } = runLoop(['sh', '-c', 'cat >/dev/null; echo oops; exit 3']);
  child.stdin.write(a.encodeTurn('x'));
  await until(() => ends() === 1);
  assert.deepEqual(events.at(-1), { type: 'turn_end', ok: false, interrupted: false, message: 'the agent exited with status 3' });
  child.stdin.end();
});

test('an interrupt ends the turn and kills the agent with its children; the next turn runs', async () => {
  // A duration no other process uses, to find the grandchild by its exact command line.
  const sleeper = `sleep 31.${process.pid}`;
  const { a, child, events, until, ends, text } = runLoop(['sh', '-c', `read p; echo started; sh -c '${sleeper}; echo late' ; echo never`]);
  child.stdin.write(a.encodeTurn('go'));
  await until(() => text().includes('started'));
  child.stdin.write(a.encodeInterrupt());
  await until(() => ends() === 1);
  assert.deepEqual(events.at(-1), { type: 'turn_end', ok: false, interrupted: true, message: null });
  // The grandchild (sleep) is gone too: it was in the turn's process group.
  // A signalled process may take a moment to be gone.
  const gone = async (): Promise<boolean> => {
    for (let i = 0; i < 50; i++) {
      if (spawnSync('pgrep', ['-x', '-f', sleeper], { encoding: 'utf8' }).stdout.trim() === '') return true;
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  };
  assert.ok(await gone(), 'the agent outlived the interrupt');
  assert.ok(!text().includes('never'));
  child.stdin.write(a.encodeTurn('again'));
  await until(() => text().split('started').length === 3);
  child.stdin.write(a.encodeInterrupt());
  await until(() => ends() === 2);
  child.stdin.end();
  // The loop ends cleanly after an interrupted last turn (its exit status is the session's).
  assert.equal(await new Promise((r) => child.on('close', r)), 0);
});

test('an agent cannot end a turn by printing a marker without the session nonce', async () => {
  const { a, child, until, ends, text } = runLoop(['sh', '-c', 'cat >/dev/null; printf "\\036cordon-turn-0000000000000000 end 0\\nstill talking\\n"']);
  child.stdin.write(a.encodeTurn('x'));
  await until(() => ends() === 1);
  assert.ok(text().includes('still talking'));
  assert.ok(text().includes('cordon-turn-0000000000000000'));
  child.stdin.end();
});
