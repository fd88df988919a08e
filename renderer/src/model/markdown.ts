/**
 * Markdown for the chat view, parsed into a small AST the view renders with
 * React elements. The text comes out of the sandbox: a prompt-injected agent
 * writes it, so the parser is built for hostile input.
 *
 * - Raw HTML is never interpreted: `<img onerror=…>`, `<script>`, `<a href>`
 *   stay literal text. Entities (`&lt;`) are not decoded either.
 * - Links and images keep their real target in the AST; the view shows it and
 *   never loads an image. `classifyLink` decides what may be opened.
 * - Reference-style links (`[a][r]` with `[r]: https://…`) are NOT resolved:
 *   both stay literal text, so nothing the user sees draws its target from a
 *   line elsewhere in the message. A bare URL in the definition is still an
 *   autolink, shown in full.
 * - Bounded work: input is cut at MAX_INPUT_CHARS, containers and inline
 *   nesting at MAX_NESTING, link destinations at MAX_DESTINATION_CHARS, and all
 *   link-destination scanning shares one budget proportional to the input, so
 *   every step is linear in the input (no step rescans text without bound).
 * - Every regular expression is a module constant listed in MARKDOWN_PATTERNS,
 *   anchored and proved free of catastrophic backtracking by recheck in
 *   markdown.test.ts. Keep it that way: no regex literals elsewhere here.
 *
 * It is a subset of CommonMark + GFM: no setext headings, no indented code
 * blocks, no HTML blocks, no footnotes, no task lists.
 */

/** Inline content. `text` may contain `\n` for a soft line break. */
export type MdInline =
  | { readonly type: 'text'; readonly text: string }
  | { readonly type: 'strong'; readonly children: readonly MdInline[] }
  | { readonly type: 'emphasis'; readonly children: readonly MdInline[] }
  | { readonly type: 'strikethrough'; readonly children: readonly MdInline[] }
  | { readonly type: 'inlineCode'; readonly text: string }
  /** `href` is the destination exactly as written (escapes removed); never opened without `classifyLink`. */
  | { readonly type: 'link'; readonly href: string; readonly children: readonly MdInline[] }
  /** An image the view must never load: `alt` is its text, `src` where it points. */
  | { readonly type: 'image'; readonly alt: string; readonly src: string }
  /** `<scheme:…>`, `<user@host>` (href `mailto:…`) or a bare `http(s)://` URL. */
  | { readonly type: 'autolink'; readonly href: string }
  | { readonly type: 'break' };

export type MdAlign = 'left' | 'center' | 'right' | null;
export type MdHeadingLevel = 1 | 2 | 3 | 4 | 5 | 6;

export type MdBlock =
  | { readonly type: 'paragraph'; readonly children: readonly MdInline[] }
  | { readonly type: 'heading'; readonly level: MdHeadingLevel; readonly children: readonly MdInline[] }
  /** `lang` is the first word of the fence's info string, or null. */
  | { readonly type: 'codeBlock'; readonly lang: string | null; readonly text: string }
  | { readonly type: 'blockquote'; readonly children: readonly MdBlock[] }
  | { readonly type: 'bulletList'; readonly items: readonly (readonly MdBlock[])[] }
  | { readonly type: 'orderedList'; readonly start: number; readonly items: readonly (readonly MdBlock[])[] }
  | { readonly type: 'thematicBreak' }
  /**
   * A GFM table. `align` and `header` have one entry per column; a row has at
   * most that many cells and may have fewer (missing cells are empty; they are
   * not padded, so a wide header cannot multiply the size of the output).
   */
  | {
      readonly type: 'table';
      readonly align: readonly MdAlign[];
      readonly header: readonly (readonly MdInline[])[];
      readonly rows: readonly (readonly (readonly MdInline[])[])[];
    }
  /** Always last when present: the input was longer than MAX_INPUT_CHARS and `omittedChars` were dropped. */
  | { readonly type: 'truncated'; readonly omittedChars: number };

/** Input beyond this many UTF-16 units is dropped and a `truncated` block says how much. */
export const MAX_INPUT_CHARS = 200_000;
/** Deepest nesting of quotes/lists (blocks) and of emphasis/links (inlines); anything deeper is plain text. */
export const MAX_NESTING = 16;
/** A link destination (or title) longer than this is not a link: the text stays literal, target and all. */
export const MAX_DESTINATION_CHARS = 8192;
/** Tables wider than this stay paragraphs. */
export const MAX_TABLE_COLUMNS = 64;
/** Balanced parentheses allowed inside an unbracketed link destination (Wikipedia-style URLs need one). */
const MAX_DESTINATION_PARENS = 32;

const FENCE = /^( {0,3})(`{3,}|~{3,})/;
const ATX_HEADING = /^ {0,3}(#{1,6})(?:[ \t]|$)/;
const BULLET = /^( {0,3})([-+*])(?:[ \t]|$)/;
const ORDERED = /^( {0,3})(\d{1,9})([.)])(?:[ \t]|$)/;
const QUOTE = /^ {0,3}>/;
const TABLE_DELIMITER_CELL = /^:?-+:?$/;
const AUTOLINK_SCHEME = /^[a-zA-Z][a-zA-Z0-9+.-]{1,31}:/;
const AUTOLINK_EMAIL = /^[^\s@<>]+@[^\s@<>]+$/;
const UNICODE_PUNCTUATION = /^[\p{P}\p{S}]$/u;
const UNICODE_SPACE = /^\s$/u;

/** Every regular expression this module runs, for the ReDoS proof in markdown.test.ts. */
export const MARKDOWN_PATTERNS: readonly RegExp[] = [FENCE, ATX_HEADING, BULLET, ORDERED, QUOTE, TABLE_DELIMITER_CELL, AUTOLINK_SCHEME, AUTOLINK_EMAIL, UNICODE_PUNCTUATION, UNICODE_SPACE];

/**
 * Parses untrusted Markdown. Never throws for any string; runs in time linear
 * in the input (bounded by MAX_INPUT_CHARS). An empty or blank text gives [].
 */
export function parseMarkdown(text: string): MdBlock[] {
  let input = text;
  let omitted = 0;
  if (input.length > MAX_INPUT_CHARS) {
    let cut = MAX_INPUT_CHARS;
    // Do not split a surrogate pair: half a character would render as a replacement glyph.
    const last = input.charCodeAt(cut - 1);
    if (last >= 0xd800 && last <= 0xdbff) cut--;
    omitted = input.length - cut;
    input = input.slice(0, cut);
  }
  const lines = input.replaceAll('\r\n', '\n').replaceAll('\r', '\n').split('\n').map(expandLeadingTabs);
  const ctx: Ctx = { destinationBudget: 2 * input.length + 8 * MAX_DESTINATION_CHARS };
  const blocks = parseBlocks(lines, 0, ctx);
  if (omitted > 0) blocks.push({ type: 'truncated', omittedChars: omitted });
  return blocks;
}

/** What a link target may do when clicked. */
export type LinkClass = { readonly kind: 'web'; readonly url: string } | { readonly kind: 'mail'; readonly url: string } | { readonly kind: 'blocked'; readonly reason: string };

/**
 * Whether a link written by the agent may be opened, judged on the URL as the
 * WHATWG parser (the browser's own) reads it, and the normalized URL to open
 * and show. Only absolute http:, https: and mailto: URLs without credentials
 * are openable; everything else is `blocked` with a reason a person can read.
 */
export function classifyLink(href: string): LinkClass {
  const trimmed = href.trim();
  if (trimmed === '') return { kind: 'blocked', reason: 'The link has no target.' };
  // `//host/x` and `\\host\x` inherit the page's scheme (file: or app: here): never guess a base.
  if (trimmed.startsWith('//') || trimmed.startsWith('\\\\')) return { kind: 'blocked', reason: 'Protocol-relative links (starting with //) are not opened.' };
  let url: URL;
  try {
    // No base: a relative link would resolve against the app's own origin.
    url = new URL(trimmed);
  } catch {
    return { kind: 'blocked', reason: 'Relative or malformed links are not opened; only full http, https and mailto URLs are.' };
  }
  // Judge the parsed scheme, not the text: the parser drops tabs and newlines, so `java\tscript:` is javascript:.
  switch (url.protocol) {
    case 'http:':
    case 'https:':
      // `https://good.test@evil.test` reads as good.test but goes to evil.test; credentials also leak.
      if (url.username !== '' || url.password !== '') return { kind: 'blocked', reason: 'Links with a user name or password in them (user:pass@host) are not opened.' };
      if (url.hostname === '') return { kind: 'blocked', reason: 'The link has no host.' };
      return { kind: 'web', url: url.href };
    case 'mailto:':
      return { kind: 'mail', url: url.href };
    case 'javascript:':
    case 'vbscript:':
      return { kind: 'blocked', reason: `${url.protocol} links run code and are never opened.` };
    case 'data:':
    case 'blob:':
      return { kind: 'blocked', reason: `${url.protocol} links carry their own content and are never opened.` };
    case 'file:':
      return { kind: 'blocked', reason: 'file: links point into your computer and are never opened.' };
    default:
      return { kind: 'blocked', reason: `${url.protocol} links are not opened; only http, https and mailto are.` };
  }
}

interface Ctx {
  /** Characters link-destination scans may still read; a guard against many `](` that never close. */
  destinationBudget: number;
}

// ---------------------------------------------------------------------------
// Blocks: one pass over lines; containers (quotes, list items) strip their
// prefix and recurse, at most MAX_NESTING deep, so each line is copied at most
// MAX_NESTING times.

function parseBlocks(lines: readonly string[], depth: number, ctx: Ctx): MdBlock[] {
  const out: MdBlock[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i] ?? '';
    if (isBlank(line)) {
      i++;
      continue;
    }
    const fence = openFence(line);
    if (fence !== null) {
      i = codeBlock(lines, i, fence, out);
      continue;
    }
    const atx = ATX_HEADING.exec(line);
    if (atx !== null) {
      out.push({ type: 'heading', level: (atx[1] ?? '#').length as MdHeadingLevel, children: parseInlines(headingText(line.slice(atx[0].length)), ctx) });
      i++;
      continue;
    }
    if (isThematicBreak(line)) {
      out.push({ type: 'thematicBreak' });
      i++;
      continue;
    }
    if (QUOTE.test(line)) {
      i = blockquote(lines, i, depth, ctx, out);
      continue;
    }
    const marker = listMarker(line);
    if (marker !== null) {
      i = list(lines, i, marker, depth, ctx, out);
      continue;
    }
    if (isTableStart(lines, i)) {
      i = table(lines, i, ctx, out);
      continue;
    }
    i = paragraph(lines, i, ctx, out);
  }
  return out;
}

interface Fence {
  readonly indent: number;
  readonly char: string;
  readonly length: number;
  readonly lang: string | null;
}

function openFence(line: string): Fence | null {
  const m = FENCE.exec(line);
  if (m === null) return null;
  const run = m[2] ?? '';
  const info = line.slice(m[0].length).trim();
  // A backtick in the info string means this is inline code, not a fence (CommonMark).
  if (run.startsWith('`') && info.includes('`')) return null;
  const space = firstSpace(info);
  return { indent: (m[1] ?? '').length, char: run.charAt(0), length: run.length, lang: info === '' ? null : info.slice(0, space) };
}

/** A fenced code block; an unclosed fence runs to the end of its container. */
function codeBlock(lines: readonly string[], start: number, fence: Fence, out: MdBlock[]): number {
  const body: string[] = [];
  let j = start + 1;
  for (; j < lines.length; j++) {
    const line = lines[j] ?? '';
    const close = FENCE.exec(line);
    const run = close?.[2] ?? '';
    if (close !== null && run.charAt(0) === fence.char && run.length >= fence.length && isBlank(line.slice(close[0].length))) {
      j++;
      break;
    }
    body.push(line.slice(Math.min(fence.indent, leadingSpaces(line))));
  }
  out.push({ type: 'codeBlock', lang: fence.lang, text: body.join('\n') });
  return j;
}

function headingText(rest: string): string {
  const content = rest.trim();
  let e = content.length;
  while (e > 0 && content.charAt(e - 1) === '#') e--;
  if (e === 0) return '';
  // A closing `###` counts only after a space: `# C#` keeps its `#`.
  const before = content.charAt(e - 1);
  return e < content.length && (before === ' ' || before === '\t') ? content.slice(0, e).trimEnd() : content;
}

function isThematicBreak(line: string): boolean {
  const indent = leadingSpaces(line);
  if (indent > 3) return false;
  const c = line.charAt(indent);
  if (c !== '-' && c !== '*' && c !== '_') return false;
  let count = 0;
  for (let k = indent; k < line.length; k++) {
    const ch = line.charAt(k);
    if (ch === c) count++;
    else if (ch !== ' ' && ch !== '\t') return false;
  }
  return count >= 3;
}

function blockquote(lines: readonly string[], start: number, depth: number, ctx: Ctx, out: MdBlock[]): number {
  const inner: string[] = [];
  let j = start;
  let lastWasText = false;
  while (j < lines.length) {
    const line = lines[j] ?? '';
    const q = QUOTE.exec(line);
    if (q !== null) {
      let rest = line.slice(q[0].length);
      if (rest.startsWith(' ')) rest = rest.slice(1);
      inner.push(rest);
      lastWasText = !isBlank(rest);
      j++;
      continue;
    }
    // Lazy continuation: a plain line right after quoted text continues the quote's paragraph.
    if (!lastWasText || interruptsParagraph(line)) break;
    inner.push(line);
    j++;
  }
  if (depth >= MAX_NESTING) out.push(literalParagraph(lines.slice(start, j)));
  else out.push({ type: 'blockquote', children: parseBlocks(inner, depth + 1, ctx) });
  return j;
}

interface ListMarker {
  readonly ordered: boolean;
  /** `-`, `+`, `*`, `.` or `)`: a different one starts a new list. */
  readonly delimiter: string;
  readonly start: number;
  /** Column where the item's content starts; continuation lines indented this far belong to the item. */
  readonly contentOffset: number;
  readonly content: string;
}

function listMarker(line: string): ListMarker | null {
  const bullet = BULLET.exec(line);
  const ordered = bullet === null ? ORDERED.exec(line) : null;
  const m = bullet ?? ordered;
  if (m === null) return null;
  const indent = (m[1] ?? '').length;
  const markerEnd = bullet !== null ? indent + 1 : indent + (m[2] ?? '').length + 1;
  let spaces = 0;
  while (line.charAt(markerEnd + spaces) === ' ' || line.charAt(markerEnd + spaces) === '\t') spaces++;
  // Five or more spaces after the marker, or none before the end: content starts one column on (CommonMark).
  const gap = spaces === 0 || spaces > 4 || markerEnd + spaces >= line.length ? 1 : spaces;
  return {
    ordered: bullet === null,
    delimiter: bullet !== null ? (m[2] ?? '-') : (m[3] ?? '.'),
    start: bullet !== null ? 1 : Number(m[2] ?? '1'),
    contentOffset: markerEnd + gap,
    content: line.slice(Math.min(line.length, markerEnd + gap)),
  };
}

function list(lines: readonly string[], start: number, first: ListMarker, depth: number, ctx: Ctx, out: MdBlock[]): number {
  const items: string[][] = [];
  let j = start;
  while (j < lines.length) {
    const m = listMarker(lines[j] ?? '');
    if (m === null || m.ordered !== first.ordered || m.delimiter !== first.delimiter) break;
    const item = [m.content];
    j++;
    let blanks = 0;
    let lastWasText = !isBlank(m.content);
    while (j < lines.length) {
      const line = lines[j] ?? '';
      if (isBlank(line)) {
        blanks++;
        j++;
        continue;
      }
      if (leadingSpaces(line) >= m.contentOffset) {
        for (; blanks > 0; blanks--) item.push('');
        item.push(line.slice(m.contentOffset));
        lastWasText = true;
        j++;
        continue;
      }
      // A marker less indented than our content is a sibling (or a new list), never our text.
      if (listMarker(line) !== null) break;
      // Lazy continuation of the item's last paragraph.
      if (blanks === 0 && lastWasText && !interruptsParagraph(line)) {
        item.push(line);
        j++;
        continue;
      }
      break;
    }
    items.push(item);
    // A blank line followed by something that is not our next item ends the list.
    if (blanks > 0) {
      const next = listMarker(lines[j] ?? '');
      if (next === null || next.ordered !== first.ordered || next.delimiter !== first.delimiter) break;
    }
  }
  if (depth >= MAX_NESTING) {
    out.push(literalParagraph(lines.slice(start, j)));
    return j;
  }
  const parsed = items.map((item) => parseBlocks(item, depth + 1, ctx));
  out.push(first.ordered ? { type: 'orderedList', start: first.start, items: parsed } : { type: 'bulletList', items: parsed });
  return j;
}

function isTableStart(lines: readonly string[], i: number): boolean {
  const head = lines[i] ?? '';
  const delimiter = lines[i + 1];
  if (delimiter === undefined || !head.includes('|') || !delimiter.includes('-')) return false;
  const aligns = delimiterRow(delimiter);
  return aligns !== null && aligns.length === splitRow(head).length;
}

function delimiterRow(line: string): MdAlign[] | null {
  const cells = splitRow(line);
  if (cells.length > MAX_TABLE_COLUMNS) return null;
  const aligns: MdAlign[] = [];
  for (const cell of cells) {
    if (!TABLE_DELIMITER_CELL.test(cell)) return null;
    const left = cell.startsWith(':');
    const right = cell.endsWith(':');
    aligns.push(left && right ? 'center' : left ? 'left' : right ? 'right' : null);
  }
  return aligns;
}

/** Cells of a table row: outer pipes dropped, `\|` is a literal pipe (GFM), cells trimmed. */
function splitRow(line: string): string[] {
  let s = line.trim();
  if (s.startsWith('|')) s = s.slice(1);
  if (s.endsWith('|') && !s.endsWith('\\|')) s = s.slice(0, -1);
  const cells: string[] = [];
  let cell: string[] = [];
  let from = 0;
  for (let k = 0; k < s.length; k++) {
    const c = s.charAt(k);
    if (c === '\\' && s.charAt(k + 1) === '|') {
      cell.push(s.slice(from, k), '|');
      from = k + 2;
      k++;
    } else if (c === '|') {
      cell.push(s.slice(from, k));
      cells.push(cell.join('').trim());
      cell = [];
      from = k + 1;
    }
  }
  cell.push(s.slice(from));
  cells.push(cell.join('').trim());
  return cells;
}

function table(lines: readonly string[], start: number, ctx: Ctx, out: MdBlock[]): number {
  const align = delimiterRow(lines[start + 1] ?? '') ?? [];
  const header = splitRow(lines[start] ?? '').map((c) => parseInlines(c, ctx));
  const rows: MdInline[][][] = [];
  let j = start + 2;
  for (; j < lines.length; j++) {
    const line = lines[j] ?? '';
    if (interruptsParagraph(line)) break;
    rows.push(
      splitRow(line)
        .slice(0, align.length)
        .map((c) => parseInlines(c, ctx)),
    );
  }
  out.push({ type: 'table', align, header, rows });
  return j;
}

function paragraph(lines: readonly string[], start: number, ctx: Ctx, out: MdBlock[]): number {
  const text = [(lines[start] ?? '').trimStart()];
  let j = start + 1;
  for (; j < lines.length; j++) {
    const line = lines[j] ?? '';
    if (interruptsParagraph(line) || isTableStart(lines, j)) break;
    text.push(line.trimStart());
  }
  // Trailing spaces on the last line are not a hard break.
  out.push({ type: 'paragraph', children: parseInlines(text.join('\n').trimEnd(), ctx) });
  return j;
}

/** Content nested past MAX_NESTING: shown as the lines were written, with no structure. */
function literalParagraph(lines: readonly string[]): MdBlock {
  return { type: 'paragraph', children: [{ type: 'text', text: lines.join('\n') }] };
}

function interruptsParagraph(line: string): boolean {
  if (isBlank(line) || openFence(line) !== null || ATX_HEADING.test(line) || isThematicBreak(line) || QUOTE.test(line)) return true;
  const m = listMarker(line);
  // As in CommonMark, only a non-empty item, and for ordered lists only one numbered 1, starts a list mid-paragraph.
  return m !== null && !isBlank(m.content) && (!m.ordered || m.start === 1);
}

function isBlank(line: string): boolean {
  for (let k = 0; k < line.length; k++) {
    const c = line.charAt(k);
    if (c !== ' ' && c !== '\t') return false;
  }
  return true;
}

function leadingSpaces(line: string): number {
  let n = 0;
  while (line.charAt(n) === ' ') n++;
  return n;
}

function firstSpace(s: string): number {
  for (let k = 0; k < s.length; k++) if (s.charAt(k) === ' ' || s.charAt(k) === '\t') return k;
  return s.length;
}

/** Tabs in a line's indentation count as 4 columns, so tab-indented nested lists nest. */
function expandLeadingTabs(line: string): string {
  let k = 0;
  let col = 0;
  let hasTab = false;
  for (; k < line.length; k++) {
    const c = line.charAt(k);
    if (c === ' ') col++;
    else if (c === '\t') {
      col += 4 - (col % 4);
      hasTab = true;
    } else break;
  }
  return hasTab ? ' '.repeat(col) + line.slice(k) : line;
}

// ---------------------------------------------------------------------------
// Inlines: CommonMark's delimiter-stack algorithm over a linked list of nodes,
// so wrapping a range in emphasis or a link is O(1) and every delimiter and
// bracket is pushed and removed once.

type NodeKind = 'text' | 'inlineCode' | 'break' | 'autolink' | 'strong' | 'emphasis' | 'strikethrough' | 'link' | 'image';

class Node {
  next: Node | null = null;
  prev: Node | null = null;
  first: Node | null = null;
  last: Node | null = null;
  /** Text, code, the autolink as written, or an emphasis node's marker (`*`, `__`, `~~`) for flattening. */
  text: string;
  constructor(
    readonly kind: NodeKind,
    text: string,
    readonly href = '',
  ) {
    this.text = text;
  }

  append(child: Node): void {
    child.prev = this.last;
    child.next = null;
    if (this.last === null) this.first = child;
    else this.last.next = child;
    this.last = child;
  }

  unlink(child: Node): void {
    if (child.prev === null) this.first = child.next;
    else child.prev.next = child.next;
    if (child.next === null) this.last = child.prev;
    else child.next.prev = child.prev;
    child.prev = child.next = null;
  }
}

interface Delimiter {
  readonly node: Node;
  readonly char: string;
  count: number;
  readonly canOpen: boolean;
  readonly canClose: boolean;
  prev: Delimiter | null;
  next: Delimiter | null;
}

interface Bracket {
  readonly node: Node;
  readonly image: boolean;
  readonly serial: number;
  readonly prev: Bracket | null;
  /** The delimiter stack's top when this bracket opened: emphasis inside the link is processed down to here. */
  readonly delimiterBelow: Delimiter | null;
}

function parseInlines(text: string, ctx: Ctx): MdInline[] {
  return new InlineParser(text, ctx).parse();
}

class InlineParser {
  private pos = 0;
  private readonly root = new Node('text', '');
  private pending: string[] = [];
  private delimiters: Delimiter | null = null;
  private brackets: Bracket | null = null;
  private serial = 0;
  /** Link openers with a serial below this are inactive: a link cannot contain a link. */
  private linkFloor = 0;
  /** Start offsets of backtick runs by run length, and a cursor into each: finds a code span's closer without rescanning. */
  private readonly backtickRuns = new Map<number, number[]>();
  private readonly backtickCursor = new Map<number, number>();

  constructor(
    private readonly src: string,
    private readonly ctx: Ctx,
  ) {
    for (let k = 0; k < src.length; ) {
      if (src.charAt(k) !== '`') {
        k++;
        continue;
      }
      const s = k;
      while (src.charAt(k) === '`') k++;
      const runs = this.backtickRuns.get(k - s) ?? [];
      runs.push(s);
      this.backtickRuns.set(k - s, runs);
    }
  }

  parse(): MdInline[] {
    const src = this.src;
    while (this.pos < src.length) {
      const c = src.charAt(this.pos);
      switch (c) {
        case '\\':
          this.backslash();
          break;
        case '\n':
          this.newline();
          break;
        case '`':
          this.codeSpan();
          break;
        case '*':
        case '_':
        case '~':
          this.delimiterRun(c);
          break;
        case '!':
          if (src.charAt(this.pos + 1) === '[') this.openBracket(true);
          else this.literal('!');
          break;
        case '[':
          this.openBracket(false);
          break;
        case ']':
          this.closeBracket();
          break;
        case '<':
          this.angleAutolink();
          break;
        default: {
          const start = this.pos;
          while (this.pos < src.length && !isSpecial(src.charAt(this.pos))) this.pos++;
          this.pending.push(src.slice(start, this.pos));
        }
      }
    }
    this.flush();
    this.processEmphasis(null);
    return convert(this.root.first, 0, false);
  }

  private literal(s: string): void {
    this.pending.push(s);
    this.pos += s.length;
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    this.root.append(new Node('text', this.pending.join('')));
    this.pending = [];
  }

  private push(node: Node): void {
    this.flush();
    this.root.append(node);
  }

  private backslash(): void {
    const next = this.src.charAt(this.pos + 1);
    if (next === '\n') {
      this.push(new Node('break', ''));
      this.pos += 2;
    } else if (isAsciiPunctuation(next)) {
      this.pending.push(next);
      this.pos += 2;
    } else this.literal('\\');
  }

  private newline(): void {
    const before = this.pending.join('');
    let end = before.length;
    while (end > 0 && before.charAt(end - 1) === ' ') end--;
    this.pending = [before.slice(0, end)];
    if (before.length - end >= 2) this.push(new Node('break', ''));
    else this.pending.push('\n');
    this.pos++;
  }

  private codeSpan(): void {
    const start = this.pos;
    while (this.src.charAt(this.pos) === '`') this.pos++;
    const length = this.pos - start;
    const close = this.nextBacktickRun(length, this.pos);
    if (close === -1) {
      this.pending.push(this.src.slice(start, this.pos));
      return;
    }
    let code = this.src.slice(this.pos, close).replaceAll('\n', ' ');
    if (code.length >= 2 && code.startsWith(' ') && code.endsWith(' ') && code.trim() !== '') code = code.slice(1, -1);
    this.push(new Node('inlineCode', code));
    this.pos = close + length;
  }

  /** The first run of exactly `length` backticks starting at or after `from`, or -1. Calls come with rising `from`. */
  private nextBacktickRun(length: number, from: number): number {
    const runs = this.backtickRuns.get(length);
    if (runs === undefined) return -1;
    let k = this.backtickCursor.get(length) ?? 0;
    while (k < runs.length && (runs[k] ?? 0) < from) k++;
    this.backtickCursor.set(length, k);
    return runs[k] ?? -1;
  }

  private delimiterRun(char: string): void {
    const src = this.src;
    const start = this.pos;
    while (src.charAt(this.pos) === char) this.pos++;
    const run = src.slice(start, this.pos);
    // Only `~~` strikes through: a single `~` is common in prose ("~5 minutes").
    if (char === '~' && run.length !== 2) {
      this.pending.push(run);
      return;
    }
    const before = start === 0 ? ' ' : src.charAt(start - 1);
    const after = this.pos >= src.length ? ' ' : src.charAt(this.pos);
    const leftFlanking = !isWhitespace(after) && (!isPunctuation(after) || isWhitespace(before) || isPunctuation(before));
    const rightFlanking = !isWhitespace(before) && (!isPunctuation(before) || isWhitespace(after) || isPunctuation(after));
    // `_` inside a word (snake_case) neither opens nor closes.
    const canOpen = char === '_' ? leftFlanking && (!rightFlanking || isPunctuation(before)) : leftFlanking;
    const canClose = char === '_' ? rightFlanking && (!leftFlanking || isPunctuation(after)) : rightFlanking;
    if (!canOpen && !canClose) {
      this.pending.push(run);
      return;
    }
    const node = new Node('text', run);
    this.push(node);
    const d: Delimiter = { node, char, count: run.length, canOpen, canClose, prev: this.delimiters, next: null };
    if (this.delimiters !== null) this.delimiters.next = d;
    this.delimiters = d;
  }

  private openBracket(image: boolean): void {
    const node = new Node('text', image ? '![' : '[');
    this.push(node);
    this.brackets = { node, image, serial: this.serial++, prev: this.brackets, delimiterBelow: this.delimiters };
    this.pos += node.text.length;
  }

  private closeBracket(): void {
    const opener = this.brackets;
    this.pos++;
    if (opener === null) {
      this.pending.push(']');
      return;
    }
    this.brackets = opener.prev;
    // Links cannot contain links: once a link closes, every `[` opened before it is plain text.
    if (!opener.image && opener.serial < this.linkFloor) {
      this.pending.push(']');
      return;
    }
    const dest = this.src.charAt(this.pos) === '(' ? this.destination(this.pos + 1) : null;
    if (dest === null) {
      this.pending.push(']');
      return;
    }
    this.flush();
    this.pos = dest.end;
    this.processEmphasis(opener.delimiterBelow);
    const node = new Node(opener.image ? 'image' : 'link', '', dest.href);
    const first = opener.node.next;
    if (first !== null) {
      node.first = first;
      node.last = this.root.last;
      first.prev = null;
      opener.node.next = null;
      this.root.last = opener.node;
    }
    this.root.unlink(opener.node);
    this.root.append(node);
    if (!opener.image) this.linkFloor = this.serial;
  }

  /**
   * `(dest)` or `(dest "title")` starting just after `(`; the title is dropped.
   * Every scan is charged to the shared budget: text full of `](` that never
   * closes would otherwise be rescanned once per `](`.
   */
  private destination(start: number): { href: string; end: number } | null {
    if (this.ctx.destinationBudget <= 0) return null;
    const src = this.src;
    const limit = Math.min(src.length, start + MAX_DESTINATION_CHARS);
    let p = skipSpaces(src, start, limit);
    const href: string[] = [];
    let ok = true;
    if (src.charAt(p) === '<') {
      p++;
      for (; p < limit; p++) {
        const c = src.charAt(p);
        if (c === '>' || c === '<' || c === '\n') break;
        if (c === '\\' && isAsciiPunctuation(src.charAt(p + 1))) p++;
        href.push(src.charAt(p));
      }
      ok = src.charAt(p) === '>';
      p++;
    } else {
      let parens = 0;
      for (; p < limit; p++) {
        const c = src.charAt(p);
        if (c <= ' ') break;
        if (c === '\\' && isAsciiPunctuation(src.charAt(p + 1))) {
          p++;
          href.push(src.charAt(p));
          continue;
        }
        if (c === '(' && ++parens > MAX_DESTINATION_PARENS) break;
        if (c === ')') {
          if (parens === 0) break;
          parens--;
        }
        href.push(c);
      }
      ok = parens === 0;
    }
    if (ok) {
      p = skipSpaces(src, p, limit);
      const q = src.charAt(p);
      if (q === '"' || q === "'" || q === '(') {
        const closer = q === '(' ? ')' : q;
        for (p++; p < limit && src.charAt(p) !== closer; p++) if (src.charAt(p) === '\\') p++;
        p = skipSpaces(src, p + 1, limit);
      }
      ok = p < limit && src.charAt(p) === ')';
    }
    this.ctx.destinationBudget -= p - start + 1;
    return ok ? { href: href.join(''), end: p + 1 } : null;
  }

  /** `<https://…>`, `<mailto:…>` or `<user@host>`; anything else (HTML included) stays literal text. */
  private angleAutolink(): void {
    const src = this.src;
    const limit = Math.min(src.length, this.pos + 1 + MAX_DESTINATION_CHARS);
    let q = this.pos + 1;
    // Stops at the next `<`, so no character is scanned by two autolink attempts.
    while (q < limit && src.charAt(q) !== '>' && src.charAt(q) !== '<' && !isWhitespace(src.charAt(q))) q++;
    const content = src.slice(this.pos + 1, q);
    if (src.charAt(q) === '>' && content !== '') {
      if (AUTOLINK_SCHEME.test(content)) {
        this.push(new Node('autolink', content, content));
        this.pos = q + 1;
        return;
      }
      if (AUTOLINK_EMAIL.test(content)) {
        this.push(new Node('autolink', content, `mailto:${content}`));
        this.pos = q + 1;
        return;
      }
    }
    this.literal('<');
  }

  /** CommonMark's "process emphasis" for delimiters above `bottom`, which are all removed afterwards. */
  private processEmphasis(bottom: Delimiter | null): void {
    let closer = this.delimiters;
    while (closer !== null && closer.prev !== bottom) closer = closer.prev;
    // Where the search for an opener of each character may stop: below it, a previous search found none.
    const openersBottom = new Map<string, Delimiter | null>();
    while (closer !== null) {
      if (!closer.canClose) {
        closer = closer.next;
        continue;
      }
      const floor = openersBottom.has(closer.char) ? openersBottom.get(closer.char) : bottom;
      let opener = closer.prev;
      while (opener !== null && opener !== bottom && opener !== floor) {
        if (opener.char === closer.char && opener.canOpen && (closer.char !== '~' || opener.count === closer.count)) break;
        opener = opener.prev;
      }
      if (opener === null || opener === bottom || opener === floor) {
        openersBottom.set(closer.char, closer.prev);
        const next: Delimiter | null = closer.next;
        if (!closer.canOpen) this.removeDelimiter(closer);
        closer = next;
        continue;
      }
      const use = closer.char === '~' ? 2 : closer.count >= 2 && opener.count >= 2 ? 2 : 1;
      opener.count -= use;
      closer.count -= use;
      opener.node.text = opener.node.text.slice(0, opener.count);
      closer.node.text = closer.node.text.slice(0, closer.count);
      const kind: NodeKind = closer.char === '~' ? 'strikethrough' : use === 2 ? 'strong' : 'emphasis';
      const wrapper = new Node(kind, closer.char.repeat(use));
      const first = opener.node.next;
      const last = closer.node.prev;
      if (first !== null && last !== null && first !== closer.node) {
        wrapper.first = first;
        wrapper.last = last;
        first.prev = null;
        last.next = null;
      }
      opener.node.next = wrapper;
      wrapper.prev = opener.node;
      wrapper.next = closer.node;
      closer.node.prev = wrapper;
      // Delimiters between the pair are inside the wrapper now and can match nothing outside it.
      opener.next = closer;
      closer.prev = opener;
      if (opener.count === 0) {
        this.root.unlink(opener.node);
        this.removeDelimiter(opener);
      }
      if (closer.count === 0) {
        const next: Delimiter | null = closer.next;
        this.root.unlink(closer.node);
        this.removeDelimiter(closer);
        closer = next;
      }
    }
    while (this.delimiters !== null && this.delimiters !== bottom) this.removeDelimiter(this.delimiters);
  }

  private removeDelimiter(d: Delimiter): void {
    if (d.prev !== null) d.prev.next = d.next;
    if (d.next !== null) d.next.prev = d.prev;
    else this.delimiters = d.prev;
  }
}

function skipSpaces(src: string, from: number, limit: number): number {
  let p = from;
  while (p < limit && (src.charAt(p) === ' ' || src.charAt(p) === '\t' || src.charAt(p) === '\n')) p++;
  return p;
}

/** The linked nodes as the public AST; nesting past MAX_NESTING is flattened to its source-like text. */
function convert(first: Node | null, depth: number, inLink: boolean): MdInline[] {
  const out: MdInline[] = [];
  let text: string[] = [];
  const flushText = () => {
    if (text.length === 0) return;
    const joined = text.join('');
    text = [];
    if (joined === '') return;
    // Inside a link's text a URL is only text: a link cannot contain a link.
    if (inLink) out.push({ type: 'text', text: joined });
    else for (const piece of bareUrls(joined)) out.push(piece);
  };
  for (let n = first; n !== null; n = n.next) {
    switch (n.kind) {
      case 'text':
        text.push(n.text);
        continue;
      case 'autolink':
        if (inLink) {
          text.push(n.text);
          continue;
        }
        flushText();
        out.push({ type: 'autolink', href: n.href });
        continue;
      case 'inlineCode':
        flushText();
        out.push({ type: 'inlineCode', text: n.text });
        continue;
      case 'break':
        flushText();
        out.push({ type: 'break' });
        continue;
      case 'strong':
      case 'emphasis':
      case 'strikethrough':
      case 'link':
      case 'image':
        if (depth >= MAX_NESTING) {
          text.push(flatten(n));
          continue;
        }
        flushText();
        if (n.kind === 'image') out.push({ type: 'image', alt: plainText(n), src: n.href });
        else if (n.kind === 'link') out.push({ type: 'link', href: n.href, children: convert(n.first, depth + 1, true) });
        else out.push({ type: n.kind, children: convert(n.first, depth + 1, inLink) });
        continue;
    }
  }
  flushText();
  return out;
}

/** Pushes a node's children so that popping yields them in order (no spread: a node may have 100,000 children). */
function pushChildren(stack: (Node | string)[], n: Node): void {
  for (let c = n.last; c !== null; c = c.prev) stack.push(c);
}

/** A node as the text it came from (near enough); iterative, as the nesting it undoes can be 100,000 deep. */
function flatten(root: Node): string {
  const parts: string[] = [];
  const stack: (Node | string)[] = [root];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    if (typeof item === 'string') {
      parts.push(item);
      continue;
    }
    switch (item.kind) {
      case 'text':
      case 'autolink':
        parts.push(item.text);
        break;
      case 'inlineCode':
        parts.push('`', item.text, '`');
        break;
      case 'break':
        parts.push('\n');
        break;
      case 'strong':
      case 'emphasis':
      case 'strikethrough':
      case 'link':
      case 'image': {
        const open = item.kind === 'link' ? '[' : item.kind === 'image' ? '![' : item.text;
        const close = item.kind === 'link' || item.kind === 'image' ? `](${item.href})` : item.text;
        stack.push(close);
        pushChildren(stack, item);
        stack.push(open);
        break;
      }
    }
  }
  return parts.join('');
}

/** An image's alt text: the plain text of its content, images inside it by their own alt. */
function plainText(root: Node): string {
  const parts: string[] = [];
  const stack: (Node | string)[] = [];
  pushChildren(stack, root);
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    if (typeof item === 'string') continue;
    if (item.kind === 'text' || item.kind === 'autolink' || item.kind === 'inlineCode') parts.push(item.text);
    else if (item.kind === 'break') parts.push(' ');
    else pushChildren(stack, item);
  }
  return parts.join('');
}

/** GFM's extended autolinks, `http://` and `https://` only: a text split into text and autolink nodes. */
function bareUrls(text: string): MdInline[] {
  const out: MdInline[] = [];
  let last = 0;
  let from = 0;
  for (;;) {
    const k = text.indexOf('http', from);
    if (k === -1) break;
    const scheme = text.startsWith('https://', k) ? 8 : text.startsWith('http://', k) ? 7 : 0;
    // Mid-word ("xhttps://") is not a link start.
    if (scheme === 0 || (k > 0 && isAsciiAlphanumeric(text.charAt(k - 1)))) {
      from = k + 4;
      continue;
    }
    let e = k + scheme;
    // GFM stops only at `<`; stopping at `>` and `"` too keeps `<a href="https://x">` from swallowing its markup.
    while (e < text.length && !'<>"'.includes(text.charAt(e)) && !isWhitespace(text.charAt(e))) e++;
    e = trimUrlEnd(text, k, e);
    if (e <= k + scheme) {
      from = k + scheme;
      continue;
    }
    if (k > last) out.push({ type: 'text', text: text.slice(last, k) });
    out.push({ type: 'autolink', href: text.slice(k, e) });
    last = from = e;
  }
  if (last < text.length) out.push({ type: 'text', text: text.slice(last) });
  return out;
}

/** Trailing punctuation is prose, not URL; a trailing `)` is kept only if it closes a `(` in the URL (GFM). */
function trimUrlEnd(text: string, start: number, end: number): number {
  let open = 0;
  let close = 0;
  for (let k = start; k < end; k++) {
    const c = text.charAt(k);
    if (c === '(') open++;
    else if (c === ')') close++;
  }
  let e = end;
  while (e > start) {
    const c = text.charAt(e - 1);
    if ('?!.,:*_~\'";'.includes(c)) e--;
    else if (c === ')' && close > open) {
      close--;
      e--;
    } else break;
  }
  return e;
}

function isSpecial(c: string): boolean {
  return c === '\\' || c === '\n' || c === '`' || c === '*' || c === '_' || c === '~' || c === '!' || c === '[' || c === ']' || c === '<';
}

function isAsciiPunctuation(c: string): boolean {
  if (c.length !== 1) return false;
  const code = c.charCodeAt(0);
  return (code >= 33 && code <= 47) || (code >= 58 && code <= 64) || (code >= 91 && code <= 96) || (code >= 123 && code <= 126);
}

function isAsciiAlphanumeric(c: string): boolean {
  const code = c.charCodeAt(0);
  return (code >= 48 && code <= 57) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122);
}

function isPunctuation(c: string): boolean {
  return isAsciiPunctuation(c) || (c.charCodeAt(0) > 127 && UNICODE_PUNCTUATION.test(c));
}

function isWhitespace(c: string): boolean {
  const code = c.charCodeAt(0);
  return c === '' || code <= 32 || (code > 127 && UNICODE_SPACE.test(c));
}
