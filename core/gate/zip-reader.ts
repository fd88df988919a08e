/**
 * A small, bounded reader for zip archives, enough to pull the XML parts out
 * of Office documents (.docx, .xlsx, .pptx) for the gate's DLP scan.
 *
 * The archive is hostile input (a dropped file, or one the agent wrote):
 * - entries are found through the central directory only, and each entry's
 *   local header must agree with it (name) and lie inside the file;
 * - sizes in headers are never trusted for allocation: inflation runs with
 *   `maxOutputLength`, and an entry that inflates past its declared size or
 *   the per-entry cap is refused (a zip bomb costs at most the cap);
 * - a total budget caps everything read from one archive;
 * - entry names are only compared, never used as paths, so `../../x` is
 *   harmless here;
 * - ZIP64, encryption and methods other than stored and deflate are
 *   refused, not guessed at.
 * Never throws: every failure is a value.
 */
import { inflateRawSync } from 'node:zlib';

/** Caps for one archive. */
export interface ZipLimits {
  /** Central directory entries (default 10,000). */
  readonly maxEntries: number;
  /** Bytes one entry may inflate to (default 16 MiB). */
  readonly maxEntryBytes: number;
  /** Bytes inflated across all entries read (default 64 MiB). */
  readonly maxTotalBytes: number;
}

export const DEFAULT_ZIP_LIMITS: ZipLimits = { maxEntries: 10_000, maxEntryBytes: 16 * 1024 * 1024, maxTotalBytes: 64 * 1024 * 1024 };

/** One central directory entry. */
export interface ZipEntry {
  readonly name: string;
  readonly method: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly encrypted: boolean;
  readonly localOffset: number;
}

export type ZipResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

const EOCD_SIG = 0x06054b50;
const CDIR_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
/** The end record is 22 bytes plus a comment of at most 65,535. */
const EOCD_SEARCH = 22 + 0xffff;

/** An opened archive: its entries, and bounded reads of them sharing one budget. */
export class ZipArchive {
  private inflatedTotal = 0;

  private constructor(
    private readonly bytes: Buffer,
    readonly entries: readonly ZipEntry[],
    private readonly limits: ZipLimits,
  ) {}

  /** Reads the central directory of BYTES. */
  static open(bytes: Buffer, limits: Partial<ZipLimits> = {}): ZipResult<ZipArchive> {
    const lim = { ...DEFAULT_ZIP_LIMITS, ...limits };
    const eocd = findEocd(bytes);
    if (eocd < 0) return fail('not a zip archive (no end of central directory)');
    const count = bytes.readUInt16LE(eocd + 10);
    const cdSize = bytes.readUInt32LE(eocd + 12);
    const cdOffset = bytes.readUInt32LE(eocd + 16);
    if (count === 0xffff || cdOffset === 0xffffffff || cdSize === 0xffffffff) return fail('ZIP64 archives are not read');
    if (count > lim.maxEntries) return fail(`more than ${lim.maxEntries} entries`);
    if (cdOffset + cdSize > eocd) return fail('central directory lies outside the archive');
    const entries: ZipEntry[] = [];
    let p = cdOffset;
    for (let i = 0; i < count; i++) {
      if (p + 46 > eocd || bytes.readUInt32LE(p) !== CDIR_SIG) return fail('central directory is damaged');
      const flags = bytes.readUInt16LE(p + 8);
      const nameLen = bytes.readUInt16LE(p + 28);
      const extraLen = bytes.readUInt16LE(p + 30);
      const commentLen = bytes.readUInt16LE(p + 32);
      if (p + 46 + nameLen > eocd) return fail('central directory is damaged');
      const compressedSize = bytes.readUInt32LE(p + 20);
      const size = bytes.readUInt32LE(p + 24);
      const localOffset = bytes.readUInt32LE(p + 42);
      if (compressedSize === 0xffffffff || size === 0xffffffff || localOffset === 0xffffffff) return fail('ZIP64 entries are not read');
      entries.push({
        name: bytes.toString('utf8', p + 46, p + 46 + nameLen),
        method: bytes.readUInt16LE(p + 10),
        compressedSize,
        size,
        encrypted: (flags & 1) === 1,
        localOffset,
      });
      p += 46 + nameLen + extraLen + commentLen;
    }
    return { ok: true, value: new ZipArchive(bytes, entries, lim) };
  }

  /** The entry named NAME (exact match), or undefined. */
  entry(name: string): ZipEntry | undefined {
    return this.entries.find((e) => e.name === name);
  }

  /** The inflated bytes of E, within the per-entry cap and the archive's remaining budget. */
  read(e: ZipEntry): ZipResult<Buffer> {
    if (e.encrypted) return fail(`${JSON.stringify(e.name)} is encrypted`);
    const b = this.bytes;
    const at = e.localOffset;
    if (at + 30 > b.length || b.readUInt32LE(at) !== LOCAL_SIG) return fail(`${JSON.stringify(e.name)}: local header missing`);
    const nameLen = b.readUInt16LE(at + 26);
    const extraLen = b.readUInt16LE(at + 28);
    if (b.toString('utf8', at + 30, at + 30 + nameLen) !== e.name) return fail(`${JSON.stringify(e.name)}: local header disagrees with the directory`);
    const start = at + 30 + nameLen + extraLen;
    const end = start + e.compressedSize;
    if (end > b.length) return fail(`${JSON.stringify(e.name)}: data runs past the end of the archive`);
    const budget = Math.min(this.limits.maxEntryBytes, this.limits.maxTotalBytes - this.inflatedTotal);
    if (e.size > budget) return fail(`${JSON.stringify(e.name)}: ${e.size} bytes is over the reading limit`);
    const raw = b.subarray(start, end);
    let out: Buffer;
    switch (e.method) {
      case 0:
        out = raw;
        break;
      case 8:
        try {
          // One byte over the declared size: an entry that lies about its size is caught, not believed.
          out = inflateRawSync(raw, { maxOutputLength: Math.max(1, Math.min(budget, e.size + 1)) });
        } catch {
          return fail(`${JSON.stringify(e.name)}: does not inflate within its declared size and the limits`);
        }
        break;
      default:
        return fail(`${JSON.stringify(e.name)}: compression method ${e.method} is not read`);
    }
    if (out.length !== e.size) return fail(`${JSON.stringify(e.name)}: inflated size differs from the declared size`);
    this.inflatedTotal += out.length;
    return { ok: true, value: out };
  }
}

function fail(reason: string): { ok: false; reason: string } {
  return { ok: false, reason };
}

/** Offset of the end-of-central-directory record, searched backwards, or -1. */
function findEocd(b: Buffer): number {
  for (let i = b.length - 22; i >= Math.max(0, b.length - EOCD_SEARCH); i--) {
    if (b.readUInt32LE(i) === EOCD_SIG && i + 22 + b.readUInt16LE(i + 20) === b.length) return i;
  }
  return -1;
}
