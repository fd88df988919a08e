// The string literals of a JSON text, in document order, with just enough
// structure to know which ones are the text of adjacent content blocks.
//
// Why the structure matters: the Messages API lets one message carry many
// content blocks (`content: [{type: "text", text: "AKIA"}, {type: "text",
// text: "Q3EG…"}]`), and the model reads them as one text. Scanned one string
// at a time, a value split across two blocks is in neither.

/** Which block of which array a `"text"` value belongs to. */
export interface BlockPosition {
  /** The array's number in the document (0 for the first array opened). */
  readonly array: number;
  /** The block's index in that array. */
  readonly index: number;
}

/** One string literal (a key or a value) of a JSON text. */
export interface JsonStringLiteral {
  /** Index of the opening quote. */
  readonly start: number;
  /** Index just after the closing quote. */
  readonly end: number;
  /**
   * Set for the value of a `"text"` key in an object that is itself an
   * element of an array: a Messages API content block, a system prompt
   * block, a block inside a tool result.
   */
  readonly block?: BlockPosition;
}

type Frame = { readonly kind: 'array'; readonly id: number; index: number } | { readonly kind: 'object'; key: string | null; expectKey: boolean };

/**
 * The string literals of `json`, which must be valid JSON (JSON.parse
 * accepted it): on anything else the answer is meaningless but the walk still
 * ends, in time linear in the text. Keys are compared decoded, so
 * `"t\u0065xt"` is the `"text"` key it is to every JSON parser.
 */
export function jsonStringLiterals(json: string): JsonStringLiteral[] {
  const out: JsonStringLiteral[] = [];
  const stack: Frame[] = [];
  let arrays = 0;
  const n = json.length;
  let i = 0;
  while (i < n) {
    const c = json.charCodeAt(i);
    const top = stack[stack.length - 1];
    if (c === 0x22 /* " */) {
      const end = stringEnd(json, i);
      if (top?.kind === 'object' && top.expectKey) {
        const raw = json.slice(i, end);
        top.key = raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1);
        out.push({ start: i, end });
      } else {
        const parent = stack[stack.length - 2];
        const inBlock = top?.kind === 'object' && top.key === 'text' && parent?.kind === 'array';
        out.push(inBlock ? { start: i, end, block: { array: parent.id, index: parent.index } } : { start: i, end });
      }
      i = end;
      continue;
    }
    switch (c) {
      case 0x7b /* { */:
        stack.push({ kind: 'object', key: null, expectKey: true });
        break;
      case 0x5b /* [ */:
        stack.push({ kind: 'array', id: arrays++, index: 0 });
        break;
      case 0x7d /* } */:
      case 0x5d /* ] */:
        stack.pop();
        break;
      case 0x2c /* , */:
        if (top?.kind === 'array') top.index++;
        else if (top?.kind === 'object') top.expectKey = true;
        break;
      case 0x3a /* : */:
        if (top?.kind === 'object') top.expectKey = false;
        break;
      default:
        break;
    }
    i++;
  }
  return out;
}

/** Index just after the closing quote of the string literal opening at `start`. */
function stringEnd(json: string, start: number): number {
  let from = start + 1;
  for (;;) {
    const q = json.indexOf('"', from);
    if (q < 0) return json.length;
    let backslashes = 0;
    for (let k = q - 1; k > start && json.charCodeAt(k) === 0x5c; k--) backslashes++;
    if (backslashes % 2 === 0) return q + 1;
    from = q + 1;
  }
}

/**
 * Groups the `"text"` values of adjacent blocks of one array (indices that
 * follow each other), as indexes into `literals`, in document order. Only groups of two or more
 * are returned: a lone block is scanned like any other string. A block with
 * two `"text"` keys contributes both, in document order.
 */
export function adjacentTextBlocks(literals: readonly JsonStringLiteral[]): number[][] {
  const open = new Map<number, { members: number[]; lastIndex: number }>();
  const groups: number[][] = [];
  const close = (g: { members: number[] } | undefined): void => {
    if (g !== undefined && g.members.length > 1) groups.push(g.members);
  };
  literals.forEach((lit, k) => {
    if (lit.block === undefined) return;
    const g = open.get(lit.block.array);
    if (g !== undefined && lit.block.index - g.lastIndex <= 1) {
      g.members.push(k);
      g.lastIndex = lit.block.index;
      return;
    }
    close(g);
    open.set(lit.block.array, { members: [k], lastIndex: lit.block.index });
  });
  for (const g of open.values()) close(g);
  return groups.sort((a, b) => (a[0] as number) - (b[0] as number));
}
