// Checksum and plausibility checks that turn a pattern match into a finding.
// They are what keeps precision high: a 16-digit number is only a card if it
// passes Luhn and sits in an issuer range, a 9-digit number is only an SSN if
// the SSA could have issued it, and an IBAN only if mod-97 holds.

/** True when a string of ASCII digits passes the Luhn (mod 10) check. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return digits.length > 0 && sum % 10 === 0;
}

/**
 * The card network whose published IIN range and length rules a PAN fits, or
 * null. Ranges are the networks' public ones; a number outside them is far more
 * likely an order id or a timestamp than a card.
 */
export function cardIssuer(digits: string): string | null {
  const len = digits.length;
  const p2 = Number(digits.slice(0, 2));
  const p3 = Number(digits.slice(0, 3));
  const p4 = Number(digits.slice(0, 4));
  const p6 = Number(digits.slice(0, 6));
  if (digits[0] === '4' && (len === 13 || len === 16 || len === 19)) return 'visa';
  if (((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) && len === 16) return 'mastercard';
  if ((p2 === 34 || p2 === 37) && len === 15) return 'amex';
  if ((p4 === 6011 || p2 === 65 || (p3 >= 644 && p3 <= 649) || (p6 >= 622126 && p6 <= 622925)) && len >= 16 && len <= 19) {
    return 'discover';
  }
  if (p4 >= 3528 && p4 <= 3589 && len >= 16 && len <= 19) return 'jcb';
  if (((p3 >= 300 && p3 <= 305) || p2 === 36 || p2 === 38 || p2 === 39) && len >= 14 && len <= 19) return 'diners';
  if (p2 === 62 && len >= 16 && len <= 19) return 'unionpay';
  if ((p2 === 50 || (p2 >= 56 && p2 <= 58) || p2 === 67 || p2 === 63) && len >= 12 && len <= 19) return 'maestro';
  return null;
}

/**
 * US Social Security Number validity per the SSA's rules: area 001-899 except
 * 666, group 01-99, serial 0001-9999. Numbers the SSA has published as
 * examples or voided (078-05-1120, 219-09-9999, 123-45-6789) are rejected too.
 */
export function ssnValid(area: string, group: string, serial: string): boolean {
  const a = Number(area);
  const g = Number(group);
  const s = Number(serial);
  if (a === 0 || a === 666 || a >= 900) return false;
  if (g === 0 || s === 0) return false;
  const whole = `${area}${group}${serial}`;
  return whole !== '078051120' && whole !== '219099999' && whole !== '123456789';
}

/** IBAN total lengths per ISO 13616 registry (country code -> characters). */
const IBAN_LENGTHS: Readonly<Record<string, number>> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BR: 29, BY: 28, CH: 21, CR: 22, CY: 28,
  CZ: 24, DE: 22, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18, FO: 18, FR: 27, GB: 22, GE: 22, GI: 23, GL: 18,
  GR: 27, GT: 28, HR: 21, HU: 28, IE: 22, IL: 23, IQ: 23, IS: 26, IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28, LC: 32,
  LI: 21, LT: 20, LU: 20, LV: 21, MC: 27, MD: 24, ME: 22, MK: 19, MR: 27, MT: 31, MU: 30, NL: 18, NO: 15, PK: 24,
  PL: 28, PS: 29, PT: 25, QA: 29, RO: 24, RS: 22, SA: 24, SC: 31, SE: 24, SI: 19, SK: 24, SM: 27, ST: 25, SV: 28,
  TL: 23, TN: 24, TR: 26, UA: 29, VA: 22, VG: 24, XK: 20,
};

/** Expected IBAN length for a country code, or undefined when it has none. */
export function ibanLength(country: string): number | undefined {
  return IBAN_LENGTHS[country];
}

/** True when a compact (no spaces) IBAN has its country's length and passes mod-97. */
export function ibanValid(compact: string): boolean {
  const expected = IBAN_LENGTHS[compact.slice(0, 2)];
  if (expected === undefined || compact.length !== expected) return false;
  // ISO 7064 check digits are 02..98; 00, 01 and 99 never occur in a real IBAN.
  const check = Number(compact.slice(2, 4));
  if (!(check >= 2 && check <= 98)) return false;
  const rearranged = compact.slice(4) + compact.slice(0, 4);
  // Piecewise mod keeps every intermediate below 2^53 without BigInt.
  let rem = 0;
  for (let i = 0; i < rearranged.length; i++) {
    const c = rearranged.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      rem = (rem * 10 + (c - 48)) % 97;
    } else if (c >= 65 && c <= 90) {
      rem = (rem * 100 + (c - 55)) % 97;
    } else {
      return false;
    }
  }
  return rem === 1;
}

// Scratch space for ASCII; entropy runs on every context-word hit, so it
// must not allocate. Safe because JavaScript runs this synchronously.
const asciiCounts = new Uint32Array(128);
const asciiSeen = new Uint8Array(128);

/** k * log2(k) for the counts short values have, so a string costs one log2 rather than one per distinct character. */
const XLOGX = Float64Array.from({ length: 257 }, (_, k) => (k === 0 ? 0 : k * Math.log2(k)));

function xlogx(k: number): number {
  return k < XLOGX.length ? (XLOGX[k] as number) : k * Math.log2(k);
}

/**
 * Shannon entropy in bits per character. Computed as
 * log2(n) - (sum of k * log2(k) over each character's count k) / n, which
 * equals -(sum of p * log2(p)) with p = k / n, from counts gathered in one
 * pass over the string.
 */
export function shannonEntropy(s: string): number {
  const n = s.length;
  if (n === 0) return 0;
  let distinct = 0;
  let i = 0;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128) break;
    if (asciiCounts[c] === 0) asciiSeen[distinct++] = c;
    asciiCounts[c] = (asciiCounts[c] as number) + 1;
  }
  let sum = 0;
  for (let j = 0; j < distinct; j++) {
    const c = asciiSeen[j] as number;
    sum += xlogx(asciiCounts[c] as number);
    asciiCounts[c] = 0;
  }
  if (i === n) return Math.log2(n) - sum / n;
  // Not all ASCII: count again with a map (the scratch counters are clear again).
  const counts = new Map<number, number>();
  for (let k = 0; k < n; k++) {
    const c = s.charCodeAt(k);
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  sum = 0;
  for (const k of counts.values()) sum += xlogx(k);
  return Math.log2(n) - sum / n;
}

/** Decodes base64url (no padding needed) to a latin1 string, or null when it is not base64url. */
export function decodeBase64Url(s: string): string | null {
  if (!/^[A-Za-z0-9_-]*$/.test(s)) return null;
  return Buffer.from(s, 'base64url').toString('latin1');
}

const PLACEHOLDER_MARKERS = [
  'example', 'xxxx', 'your_', 'your-', 'yourkey', 'placeholder', 'changeme', 'change_me', 'redacted', 'dummy',
  'sample', 'todo', 'fixme', 'insert', 'replace', '****', '....', 'secret_here', 'key_here', 'token_here',
];

/**
 * True for values that are obviously placeholders rather than secrets:
 * template syntax (`<your-key-here>`, `${VAR}`, `{{ var }}`, `%(x)s`), env
 * lookups, and the words people use in docs. Keeps generic detectors quiet
 * on documentation and config templates.
 */
export function looksLikePlaceholder(value: string): boolean {
  const v = value.toLowerCase();
  if (/^[<{[(]|[>}\])]$|^\$|^%\(|^\{\{|process\.env|os\.environ|getenv/.test(v)) return true;
  for (const m of PLACEHOLDER_MARKERS) if (v.includes(m)) return true;
  // One repeated character (aaaaaaaa, 00000000) or a strict run (12345678, abcdefgh).
  if (/^(.)\1*$/.test(v)) return true;
  return false;
}

/**
 * The narrower placeholder test for values with a vendor prefix: their bodies
 * are random, so ordinary words like "todo" occur by chance and must not veto
 * a finding; only unmistakable filler does (`xxxx`, `EXAMPLE`, `YOUR_KEY_HERE`,
 * one repeated character).
 */
export function looksLikeTokenPlaceholder(body: string): boolean {
  return /x{4}|X{4}|\*{4}|\.{4}|example|your_?(?:api_?)?(?:key|token|secret)|_here|placeholder|^(.)\1*$/i.test(body);
}
