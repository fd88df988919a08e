import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { adjacentTextBlocks, jsonStringLiterals } from './json-strings.js';

void describe('JSON string literals', () => {
  void it('finds every string literal of any JSON value, in order, with its exact spelling', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.constantFrom(undefined, 2), (value, indent) => {
        const json = JSON.stringify(value, null, indent) ?? 'null';
        const literals = jsonStringLiterals(json);
        // Reference: the literal pattern over valid JSON (the pattern the filter used before).
        const expected = [...json.matchAll(/"(?:[^"\\]|\\.)*"/g)].map((m) => [m.index, m.index + m[0].length]);
        assert.deepEqual(
          literals.map((l) => [l.start, l.end]),
          expected,
        );
      }),
      { numRuns: 300 },
    );
  });

  void it('marks the "text" values of array elements, decoding escaped keys as a parser would', () => {
    const json = '{"system":[{"type":"text","text":"s1"}],"messages":[{"role":"user","content":[{"text":"a"},{"t\\u0065xt":"b"},{"image":"x"},{"text":"c"}]}],"text":"top"}';
    const blocks = jsonStringLiterals(json)
      .filter((l) => l.block !== undefined)
      .map((l) => [JSON.parse(json.slice(l.start, l.end)) as string, l.block?.array, l.block?.index]);
    assert.deepEqual(blocks, [
      ['s1', 0, 0],
      ['a', 2, 0],
      ['b', 2, 1],
      ['c', 2, 3],
    ]);
  });

  void it('groups the text of adjacent blocks of one array, never across arrays or gaps', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.oneof(fc.record({ type: fc.constant('text'), text: fc.string() }), fc.record({ type: fc.constant('image'), data: fc.string() })), { maxLength: 6 }), { maxLength: 4 }),
        (contents) => {
          const json = JSON.stringify({ messages: contents.map((content) => ({ role: 'user', content })) });
          const literals = jsonStringLiterals(json);
          const groups = adjacentTextBlocks(literals).map((g) => g.map((k) => JSON.parse(json.slice(literals[k]?.start, literals[k]?.end)) as string));
          // Reference: runs of two or more consecutive text blocks in each message.
          const expected: string[][] = [];
          for (const content of contents) {
            let run: string[] = [];
            for (const block of [...content, null]) {
              if (block !== null && 'text' in block) {
                run.push(block.text);
                continue;
              }
              if (run.length > 1) expected.push(run);
              run = [];
            }
          }
          assert.deepEqual(groups, expected);
        },
      ),
      { numRuns: 300 },
    );
  });
});
