import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createResponseRehydrator, createSseRehydrateTransform } from './sse-rehydrate.js';
import { runTransform, splitAt } from './stream-test-support.js';
import { TokenVault } from './vault.js';

const run = runTransform;

const splitBytes = (buf: Buffer, cuts: readonly number[]): Buffer[] => splitAt(buf, cuts);
/** Splits `text` into deltas at the given character offsets. */
const deltas = (text: string, cuts: readonly number[]): string[] => splitAt(text, cuts);

function anthropicStream(textDeltas: readonly string[], toolDeltas: readonly string[]): string {
  const ev = (type: string, data: unknown): string => `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
  return [
    ev('message_start', { type: 'message_start', message: { id: 'msg_1', content: [] } }),
    ev('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
    ...textDeltas.map((t) => ev('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: t } })),
    ev('content_block_stop', { type: 'content_block_stop', index: 0 }),
    ev('content_block_start', { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 't', name: 'write', input: {} } }),
    ...toolDeltas.map((p) => ev('content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: p } })),
    ev('content_block_stop', { type: 'content_block_stop', index: 1 }),
    ev('message_stop', { type: 'message_stop' }),
  ].join('');
}

/** Reassembles what a client would see: concatenated text and tool-input JSON per block. */
function collectAnthropic(stream: string): { text: string; toolJson: string } {
  let text = '';
  let toolJson = '';
  for (const block of stream.split('\n\n')) {
    const line = block.split('\n').find((l) => l.startsWith('data: '));
    if (line === undefined) continue;
    const data = JSON.parse(line.slice(6)) as { type?: string; index?: number; delta?: { text?: string; partial_json?: string } };
    if (data.type !== 'content_block_delta') continue;
    if (data.index === 0) text += data.delta?.text ?? '';
    if (data.index === 1) toolJson += data.delta?.partial_json ?? '';
  }
  return { text, toolJson };
}

void describe('SSE rehydration across events', () => {
  const SECRET = 'pa"ss\\wörd-🔑';

  void it('rehydrates a token spread over many text deltas and tool-input deltas, split at every byte', async () => {
    const vault = new TokenVault({ ttlMillis: 60_000 });
    const tok = vault.tokenize(SECRET);
    assert.ok(tok.ok);
    const text = `Use ${tok.token} now; again: ${tok.token}`;
    const toolInput = JSON.stringify({ path: '.env', content: `KEY=${tok.token}\n` });
    // Deltas of 3 characters, as a model streams hex.
    const textDeltas = deltas(text, Array.from({ length: Math.ceil(text.length / 3) }, (_, i) => i * 3));
    const toolDeltas = deltas(toolInput, Array.from({ length: Math.ceil(toolInput.length / 4) }, (_, i) => i * 4));
    const stream = Buffer.from(anthropicStream(textDeltas, toolDeltas), 'utf8');
    const expectedText = `Use ${SECRET} now; again: ${SECRET}`;
    const expectedTool = { path: '.env', content: `KEY=${SECRET}\n` };
    for (let i = 0; i <= stream.length; i += 1) {
      const out = collectAnthropic(await run(createSseRehydrateTransform(vault), [stream.subarray(0, i), stream.subarray(i)]));
      assert.equal(out.text, expectedText, `split at byte ${i}`);
      assert.deepEqual(JSON.parse(out.toolJson), expectedTool, `split at byte ${i}`);
    }
  });

  void it('property: any delta split and any byte chunking yields the original text', async () => {
    const vault = new TokenVault({ ttlMillis: 60_000 });
    const values = ['4539 1488 0343 6467', SECRET, 'bob@acme-corp.com'];
    const tokens = values.map((v) => {
      const r = vault.tokenize(v);
      assert.ok(r.ok);
      return r.token;
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(fc.string({ unit: 'binary', maxLength: 12 }), fc.constantFrom(0, 1, 2)), { maxLength: 10 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        async (parts, deltaCuts, byteCuts) => {
          const sent = parts.map((p) => (typeof p === 'number' ? (tokens[p] ?? '') : p)).join('');
          const original = parts.map((p) => (typeof p === 'number' ? (values[p] ?? '') : p)).join('');
          const stream = Buffer.from(anthropicStream(deltas(sent, deltaCuts), ['{}']), 'utf8');
          const out = collectAnthropic(await run(createSseRehydrateTransform(vault), splitBytes(stream, byteCuts)));
          assert.equal(out.text, original);
        },
      ),
      { numRuns: 300 },
    );
  });

  void it('handles OpenAI chat-completion chunks and [DONE]', async () => {
    const vault = new TokenVault({ ttlMillis: 60_000 });
    const tok = vault.tokenize(SECRET);
    assert.ok(tok.ok);
    const text = `key: ${tok.token}.`;
    const chunks = deltas(text, [3, 9, 15, 22, 30, 40]).map(
      (c) => `data: ${JSON.stringify({ id: 'c', choices: [{ index: 0, delta: { content: c }, finish_reason: null }] })}\n\n`,
    );
    const stream = chunks.join('') + 'data: [DONE]\n\n';
    const out = await run(createSseRehydrateTransform(vault), [Buffer.from(stream)]);
    let got = '';
    for (const block of out.split('\n\n')) {
      const line = block.split('\n').find((l) => l.startsWith('data: '));
      if (line === undefined || line === 'data: [DONE]') continue;
      const d = JSON.parse(line.slice(6)) as { choices: { delta: { content?: string } }[] };
      got += d.choices[0]?.delta.content ?? '';
    }
    assert.equal(got, `key: ${SECRET}.`);
    assert.ok(out.endsWith('data: [DONE]\n\n'));
  });

  void it('leaves forged tokens and unknown events alone, and picks the rehydrator by content type', async () => {
    const vault = new TokenVault({ ttlMillis: 60_000 });
    const forged = 'cdntk_' + 'ab'.repeat(16);
    const stream = `: ping\n\nevent: custom\ndata: {"x":"${forged}"}\n\n`;
    assert.equal(await run(createResponseRehydrator(vault, 'text/event-stream; charset=utf-8'), [Buffer.from(stream)]), stream);
    const tok = vault.tokenize('v"1');
    assert.ok(tok.ok);
    const json = JSON.stringify({ content: [{ type: 'text', text: tok.token }] });
    const out = await run(createResponseRehydrator(vault, 'application/json'), [Buffer.from(json)]);
    assert.deepEqual(JSON.parse(out), { content: [{ type: 'text', text: 'v"1' }] });
  });
});
