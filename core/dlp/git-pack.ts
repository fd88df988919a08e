// git's smart-HTTP push body (`POST …/git-receive-pack`,
// `application/x-git-receive-pack-request`), read so DLP can scan what a
// `git push` carries (issue 19, item 3). The body is pkt-lines of ref updates
// (and push options), then a PACK whose objects are zlib streams, some of them
// deltas against another object. Without this, DLP saw the pack as binary and
// found nothing in it: a secret committed and pushed left unscanned.
//
// Pure and bounded: every count and size the pack declares is checked against
// `PackLimits` before anything is allocated for it, every inflate is capped at
// the object's declared size, and the pack's trailing checksum is verified, so
// the bytes scanned are the bytes git will accept. Anything that does not
// parse fails closed (a value, never an exception): the caller refuses it.
//
// Deltas are applied when their base is in the same pack (`ofs_delta`, or a
// `ref_delta` naming an object of the pack). A delta whose base is not in the
// pack (a thin pack: the base is on the server) cannot be read: its literal
// inserts are returned for a best-effort scan, and it is counted in
// `unreadableDeltas` so the caller can refuse the push as unscannable (a
// hostile agent could assemble a secret from copies of the server's bytes).

import { createHash } from 'node:crypto';
import { inflateSync } from 'node:zlib';

/** Bounds on one push. A pack over any of them is refused, never partly scanned. */
export interface PackLimits {
  /** Objects the pack may declare. */
  readonly maxObjects: number;
  /** Inflated (and delta-resolved) size of any one object, in bytes. */
  readonly maxObjectBytes: number;
  /** Inflated bytes of the whole pack, deltas and their results included. */
  readonly maxInflatedBytes: number;
}

export const DEFAULT_PACK_LIMITS: PackLimits = { maxObjects: 50_000, maxObjectBytes: 16 * 1024 * 1024, maxInflatedBytes: 64 * 1024 * 1024 };

export type GitObjectKind = 'commit' | 'tree' | 'blob' | 'tag';

export interface ReadableObject {
  readonly kind: GitObjectKind;
  readonly content: Buffer;
}

export interface ReceivePackRequest {
  /** The pkt-line section as text (ref updates, capabilities, push options, a push certificate). */
  readonly commands: string;
  /** Every object whose content could be read: plain objects, and deltas whose base is in the pack. */
  readonly objects: readonly ReadableObject[];
  /** Deltas whose base is not in the pack: their content cannot be read. */
  readonly unreadableDeltas: number;
  /** The literal bytes those deltas insert (what a best-effort scan can still see). */
  readonly deltaInserts: readonly Buffer[];
}

export type PackFailure = { readonly reason: 'pack_malformed' | 'pack_too_large'; readonly detail: string };
export type ReceivePackParse = ({ readonly ok: true } & ReceivePackRequest) | ({ readonly ok: false } & PackFailure);

const KINDS: Record<number, GitObjectKind> = { 1: 'commit', 2: 'tree', 3: 'blob', 4: 'tag' };
const OFS_DELTA = 6;
const REF_DELTA = 7;

class PackError extends Error {
  constructor(
    readonly reason: PackFailure['reason'],
    readonly detail: string,
  ) {
    super(detail);
  }
}

const malformed = (detail: string): PackError => new PackError('pack_malformed', detail);

interface Entry {
  readonly offset: number;
  kind: GitObjectKind | null;
  /** Inflated data: the object's content, or for a delta its instructions. */
  data: Buffer;
  readonly base: { readonly offset: number } | { readonly id: string } | null;
}

/** Reads the pkt-lines up to a flush-pkt; returns their text and where the flush ended. */
function readPktLines(body: Buffer, start: number): { lines: string[]; end: number } {
  const lines: string[] = [];
  let p = start;
  for (;;) {
    if (p + 4 > body.length) throw malformed('the ref update list ends without a flush-pkt');
    const hex = body.toString('latin1', p, p + 4);
    if (!/^[0-9a-f]{4}$/.test(hex)) throw malformed('a pkt-line length is not hex');
    const len = parseInt(hex, 16);
    if (len === 0) return { lines, end: p + 4 };
    if (len < 4 || p + len > body.length) throw malformed('a pkt-line length is out of range');
    lines.push(body.toString('utf8', p + 4, p + len));
    p += len;
  }
}

/**
 * Parses a receive-pack request body (Content-Encoding already undone).
 * A body with no pack after the commands (only deletions, or git's "0000"
 * probe before a large push) is valid and carries no objects.
 */
export function parseReceivePack(body: Buffer, limits: PackLimits = DEFAULT_PACK_LIMITS): ReceivePackParse {
  try {
    return { ok: true, ...parse(body, limits) };
  } catch (e) {
    if (e instanceof PackError) return { ok: false, reason: e.reason, detail: e.detail };
    // zlib's own errors (a truncated or corrupt stream, output over its cap).
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    return { ok: false, reason: 'pack_malformed', detail: `an object does not inflate (${code})` };
  }
}

function parse(body: Buffer, limits: PackLimits): ReceivePackRequest {
  const first = readPktLines(body, 0);
  const commands = [...first.lines];
  let p = first.end;
  const caps = (first.lines[0] ?? '').split('\0')[1] ?? '';
  const capList = caps.trim().split(' ');
  if (capList.includes('push-options') && p < body.length && body.toString('latin1', p, p + 4) !== 'PACK') {
    const opts = readPktLines(body, p);
    commands.push(...opts.lines);
    p = opts.end;
  }
  const text = commands.join('');
  if (p === body.length) return { commands: text, objects: [], unreadableDeltas: 0, deltaInserts: [] };
  const hashLen = capList.includes('object-format=sha256') ? 32 : 20;
  const pack = body.subarray(p);
  if (pack.length < 12 + hashLen || pack.toString('latin1', 0, 4) !== 'PACK') throw malformed('no PACK after the ref updates');
  const version = pack.readUInt32BE(4);
  if (version !== 2 && version !== 3) throw malformed(`pack version ${version}`);
  const count = pack.readUInt32BE(8);
  if (count > limits.maxObjects) throw new PackError('pack_too_large', `the pack declares ${count} objects (limit ${limits.maxObjects})`);
  const trailer = pack.length - hashLen;
  const sum = createHash(hashLen === 32 ? 'sha256' : 'sha1').update(pack.subarray(0, trailer)).digest();
  if (!sum.equals(pack.subarray(trailer))) throw malformed('the pack checksum does not match');

  let inflated = 0;
  const account = (n: number): void => {
    inflated += n;
    if (inflated > limits.maxInflatedBytes) throw new PackError('pack_too_large', `the pack inflates past ${limits.maxInflatedBytes} bytes`);
  };
  const entries: Entry[] = [];
  const byOffset = new Map<number, Entry>();
  let q = 12;
  const byte = (): number => {
    if (q >= trailer) throw malformed('an object header runs past the pack');
    return pack[q++] as number;
  };
  for (let i = 0; i < count; i++) {
    const offset = q;
    let c = byte();
    const type = (c >> 4) & 7;
    let size = c & 15;
    let shift = 4;
    while (c & 0x80) {
      c = byte();
      size += (c & 0x7f) * 2 ** shift;
      shift += 7;
      if (size > limits.maxObjectBytes) throw new PackError('pack_too_large', `an object is larger than ${limits.maxObjectBytes} bytes`);
    }
    if (size > limits.maxObjectBytes) throw new PackError('pack_too_large', `an object is larger than ${limits.maxObjectBytes} bytes`);
    let base: Entry['base'] = null;
    if (type === OFS_DELTA) {
      c = byte();
      let back = c & 0x7f;
      while (c & 0x80) {
        c = byte();
        back = (back + 1) * 128 + (c & 0x7f);
        if (back > offset) throw malformed('a delta points before the pack');
      }
      if (back === 0 || back > offset) throw malformed('a delta points outside the pack');
      base = { offset: offset - back };
    } else if (type === REF_DELTA) {
      if (q + hashLen > trailer) throw malformed('a delta base id runs past the pack');
      base = { id: pack.toString('hex', q, q + hashLen) };
      q += hashLen;
    } else if (KINDS[type] === undefined) throw malformed(`object type ${type}`);
    account(size);
    // Capped at the declared size: a stream that inflates further is a bomb or a lie, and throws.
    const out = inflateSync(pack.subarray(q, trailer), { info: true, maxOutputLength: Math.max(1, size) }) as unknown as { buffer: Buffer; engine: { bytesWritten: number } };
    if (out.buffer.length !== size) throw malformed('an object inflates to another size than it declares');
    q += out.engine.bytesWritten;
    const e: Entry = { offset, kind: KINDS[type] ?? null, data: out.buffer, base };
    entries.push(e);
    byOffset.set(offset, e);
  }
  if (q !== trailer) throw malformed('bytes after the last object');

  // Resolve deltas whose base is in the pack, in passes (a chain resolves one link per pass at worst).
  let ids: Map<string, Entry> | null = null;
  const idOf = (e: Entry): string => createHash(hashLen === 32 ? 'sha256' : 'sha1').update(`${e.kind ?? ''} ${e.data.length}\0`).update(e.data).digest('hex');
  let pending = entries.filter((e) => e.kind === null);
  for (;;) {
    const next: Entry[] = [];
    for (const d of pending) {
      const b = d.base;
      let baseEntry: Entry | undefined;
      if (b !== null && 'offset' in b) {
        baseEntry = byOffset.get(b.offset);
        if (baseEntry === undefined) throw malformed('a delta points between objects');
      } else if (b !== null) {
        ids ??= new Map(entries.filter((x) => x.kind !== null).map((x) => [idOf(x), x]));
        baseEntry = ids.get(b.id);
      }
      if (baseEntry === undefined || baseEntry.kind === null) {
        next.push(d);
        continue;
      }
      d.data = applyDelta(baseEntry.data, d.data, limits, account);
      d.kind = baseEntry.kind;
      ids?.set(idOf(d), d);
    }
    if (next.length === pending.length) break;
    pending = next;
  }
  return {
    commands: text,
    objects: entries.filter((e): e is Entry & { kind: GitObjectKind } => e.kind !== null).map((e) => ({ kind: e.kind, content: e.data })),
    unreadableDeltas: pending.length,
    deltaInserts: pending.map((d) => deltaInserts(d.data)),
  };
}

/** git's delta varint: 7 bits a byte, least significant first. */
function deltaSize(delta: Buffer, at: { p: number }): number {
  let n = 0;
  let shift = 0;
  let c: number;
  do {
    if (at.p >= delta.length || shift > 49) throw malformed('a delta header is truncated');
    c = delta[at.p++] as number;
    n += (c & 0x7f) * 2 ** shift;
    shift += 7;
  } while (c & 0x80);
  return n;
}

/** Applies a git delta to BASE, every copy and insert checked against both sizes. */
export function applyDelta(base: Buffer, delta: Buffer, limits: PackLimits, account: (n: number) => void): Buffer {
  const at = { p: 0 };
  if (deltaSize(delta, at) !== base.length) throw malformed('a delta does not match its base');
  const size = deltaSize(delta, at);
  if (size > limits.maxObjectBytes) throw new PackError('pack_too_large', `an object is larger than ${limits.maxObjectBytes} bytes`);
  account(size);
  const out = Buffer.allocUnsafe(size);
  let o = 0;
  while (at.p < delta.length) {
    const op = delta[at.p++] as number;
    if (op & 0x80) {
      let off = 0;
      let len = 0;
      for (let i = 0; i < 4; i++) if (op & (1 << i)) off |= (delta[at.p++] ?? 0) << (8 * i);
      for (let i = 0; i < 3; i++) if (op & (0x10 << i)) len |= (delta[at.p++] ?? 0) << (8 * i);
      off >>>= 0;
      if (len === 0) len = 0x10000;
      if (at.p > delta.length || off + len > base.length || o + len > size) throw malformed('a delta copies outside its base');
      base.copy(out, o, off, off + len);
      o += len;
    } else if (op !== 0) {
      if (at.p + op > delta.length || o + op > size) throw malformed('a delta inserts past its end');
      delta.copy(out, o, at.p, at.p + op);
      at.p += op;
      o += op;
    } else throw malformed('a delta holds a reserved instruction');
  }
  if (o !== size) throw malformed('a delta builds another size than it declares');
  return out;
}

/** The literal bytes a delta inserts, joined by newlines; empty for a delta that does not parse. */
function deltaInserts(delta: Buffer): Buffer {
  const parts: Buffer[] = [];
  try {
    const at = { p: 0 };
    deltaSize(delta, at);
    deltaSize(delta, at);
    while (at.p < delta.length) {
      const op = delta[at.p++] as number;
      if (op & 0x80) {
        for (let i = 0; i < 7; i++) if (op & (1 << i)) at.p++;
      } else if (op !== 0) {
        parts.push(delta.subarray(at.p, at.p + op), Buffer.from('\n'));
        at.p += op;
      } else break;
    }
  } catch {
    // A truncated header: nothing to show.
  }
  return Buffer.concat(parts);
}
