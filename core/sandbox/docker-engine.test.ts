import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classifyCreateError, explainEngineError, lastDieEvent } from './docker-engine.js';

// Shapes of the errors dockerode raises, as seen from Docker Engine 20.10.
const engineError = (statusCode: number, message: string): Error & { statusCode: number; json: { message: string } } =>
  Object.assign(new Error(`(HTTP code ${statusCode}) ${message}`), { statusCode, json: { message } });

test('a missing gVisor runtime says how to install and register runsc', () => {
  const e = classifyCreateError(engineError(400, 'Unknown runtime specified runsc'), { image: 'cordon/agent:1', runtime: 'runsc' });
  assert.equal(e.reason, 'runtime');
  assert.match(e.message, /apt-get install runsc/);
  assert.match(e.message, /daemon\.json/);
  assert.match(e.message, /--profile standard/);
});

test('a missing image says to build it', () => {
  const e = classifyCreateError(engineError(404, 'No such image: cordon/agent:1'), { image: 'cordon/agent:1', runtime: 'runc' });
  assert.equal(e.reason, 'image');
  assert.match(e.message, /cordon image build/);
});

test('an unreachable engine says how to start it, and no stack trace is part of the message', () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED /var/run/docker.sock'), { code: 'ECONNREFUSED' });
  const e = classifyCreateError(refused, { image: 'x', runtime: 'runc' });
  assert.equal(e.reason, 'engine');
  assert.match(e.message, /Docker Engine is not running/);
  assert.ok(!e.message.includes('\n    at '));
  assert.match(explainEngineError(Object.assign(new Error('x'), { code: 'EACCES' })), /docker" group/);
});

test("the last `die` in the engine's event stream gives when and how a removed sandbox ended", () => {
  // Lines as Docker Engine's /events answers them (labels ride in Attributes).
  const die = (code: string, timeNano: number): string =>
    JSON.stringify({ status: 'die', id: 'c83', from: 'cordon/agent:1', Type: 'container', Action: 'die', Actor: { ID: 'c83', Attributes: { exitCode: code, 'dev.cordon.session': 'abc' } }, scope: 'local', time: Math.floor(timeNano / 1e9), timeNano });
  const destroy = JSON.stringify({ Type: 'container', Action: 'destroy', Actor: { ID: 'c83', Attributes: {} }, time: 1796388519, timeNano: 1796388519190835000 });
  const text = [die('0', 1796388517982848000), die('112', 1796388519100000000), destroy, 'not json', '{"Action":"die","Actor":{"Attributes":{"exitCode":"x"}},"time":1}', ''].join('\n');
  const exit = lastDieEvent(text);
  assert.equal(exit?.exitCode, 112);
  assert.equal(exit?.at.toISOString(), '2026-12-04T12:48:39.100Z');
  assert.equal(exit?.killed, false);
  // A kill asked of the engine (a sentinel, `cordon stop`) before the die.
  const kill = JSON.stringify({ Type: 'container', Action: 'kill', Actor: { ID: 'c83', Attributes: { signal: '9' } }, time: 1796388520, timeNano: 1796388520000000000 });
  const killed = lastDieEvent([text, kill, die('137', 1796388520100000000)].join('\n'));
  assert.deepEqual(killed, { exitCode: 137, at: new Date(1796388520100), killed: true });
  assert.equal(lastDieEvent(destroy + '\n'), null);
  assert.equal(lastDieEvent(''), null);
});
