// Built-in anchored detectors. Each one names literal anchors (a fixed prefix
// such as `ghp_` or a context word such as `password`); the scanner finds
// anchors with a literal prefilter (anchor-search.ts: one memchr-speed pass
// per rare trigger character) and only then runs the detector's sticky,
// bounded pattern at that spot. That is what keeps a scan linear: no
// pattern ever runs across the whole input, and every quantifier is bounded.
//
// Formats were read from the vendors' public token documentation and written
// here from that understanding; the numeric PII detectors (cards, SSNs, phones,
// IBANs, IPs) live in numeric-detectors.ts.

import type { BuiltinDetectorId } from './types.js';
import { decodeBase64Url, looksLikePlaceholder, looksLikeTokenPlaceholder, shannonEntropy } from './validators.js';

/** A span a detector claims, before allowlists and overlap resolution. */
export interface Candidate {
  readonly detector: BuiltinDetectorId;
  readonly start: number;
  readonly end: number;
  readonly confidence: number;
}

/** A detector triggered by literal anchors. */
export interface AnchoredDetector {
  /** Detector ids this entry can emit (one entry may emit several, e.g. the private-key family). */
  readonly ids: readonly BuiltinDetectorId[];
  readonly category: 'secret' | 'pii';
  /** Literal strings whose occurrence triggers `matchAt`. */
  readonly anchors: readonly string[];
  /** Whether anchors match regardless of case (context words) or exactly (vendor prefixes). */
  readonly caseInsensitive: boolean;
  /** Every regular expression the detector runs; the ReDoS test checks each one. */
  readonly patterns: readonly RegExp[];
  /** Claim a span given an anchor occurrence at `at`, or return null. Must only read a bounded window. */
  matchAt(text: string, at: number, anchor: string): Candidate | null;
}

function isAlnum(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/** True when the character before `at` cannot be part of the same token, so `xghp_…` is not a GitHub token. */
function boundaryBefore(text: string, at: number): boolean {
  return at === 0 || !isAlnum(text.charCodeAt(at - 1));
}

function execAt(re: RegExp, text: string, at: number): RegExpExecArray | null {
  re.lastIndex = at;
  return re.exec(text);
}

function anchorLength(value: string, anchors: readonly string[]): number {
  for (const a of anchors) if (value.startsWith(a)) return a.length;
  return 0;
}

/**
 * A detector for tokens with a vendor prefix: the anchor is the prefix and
 * `re` (sticky) must match starting at it.
 */
function prefixed(
  id: BuiltinDetectorId,
  anchors: readonly string[],
  re: RegExp,
  confidence: number,
  validate?: (value: string) => boolean,
): AnchoredDetector {
  return {
    ids: [id],
    category: 'secret',
    anchors,
    caseInsensitive: false,
    patterns: [re],
    matchAt(text, at) {
      if (!boundaryBefore(text, at)) return null;
      const m = execAt(re, text, at);
      if (m === null) return null;
      if (validate !== undefined && !validate(m[0])) return null;
      // `ghp_xxxxxxxx…` and `sk_live_YOUR_KEY_HERE…` in docs are placeholders, not keys.
      const body = m[0].slice(anchorLength(m[0], anchors));
      // Entropy of the first 48 characters is enough to tell filler from random, and keeps long tokens cheap.
      if (looksLikeTokenPlaceholder(body) || (body.length >= 16 && shannonEntropy(body.slice(0, 48)) < 2.5)) return null;
      return { detector: id, start: at, end: at + m[0].length, confidence };
    },
  };
}

/**
 * A detector for a value found by context: after the anchor word, an optional
 * identifier tail, an assignment operator and an optional quote, `re` captures
 * the value in group 1 (with indices). Only the value is claimed.
 */
function contextual(
  id: BuiltinDetectorId,
  anchors: readonly string[],
  re: RegExp,
  confidence: (value: string) => number | null,
): AnchoredDetector {
  return {
    ids: [id],
    category: 'secret',
    anchors,
    caseInsensitive: true,
    patterns: [re],
    matchAt(text, at, anchor) {
      if (!mayStartAssign(text.charCodeAt(at + anchor.length))) return null;
      const m = execAt(re, text, at + anchor.length);
      const span = m?.indices?.[1];
      const value = m?.[1];
      if (span === undefined || value === undefined) return null;
      const c = confidence(value);
      if (c === null) return null;
      return { detector: id, start: span[0], end: span[1], confidence: c };
    },
  };
}

// Assignment glue between a context word and its value: `_KEY`, a closing quote
// (possibly JSON-escaped), `=`, `:`, `=>` or `:=`, and an opening quote.
const ASSIGN = String.raw`[A-Za-z0-9_.-]{0,24}\\?["']?[ \t]{0,4}(?:=>|:=|=|:)[ \t]{0,4}\\?["'\x60]?`;

/**
 * Whether `c` can be the first character of ASSIGN: a cheap gate that spares
 * the regex for the common `getToken(`, `tokens.`, `secret)` shapes.
 */
function mayStartAssign(c: number): boolean {
  // A-Z a-z 0-9 _ . - \ " ' space tab = :
  return (
    isAlnum(c) || c === 95 || c === 46 || c === 45 || c === 92 || c === 34 || c === 39 || c === 32 || c === 9 || c === 61 || c === 58
  );
}

const awsAccessKey = prefixed(
  'aws_access_key_id',
  ['AKIA', 'ASIA', 'ABIA', 'ACCA'],
  /(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}(?![A-Za-z0-9])/y,
  0.95,
);

const awsSecretKey = contextual(
  'aws_secret_access_key',
  ['aws_secret_access_key', 'secret_access_key', 'secretaccesskey', 'aws_secret_key', 'aws_secret'],
  new RegExp(`${ASSIGN}([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])`, 'dy'),
  (v) => (shannonEntropy(v) >= 3.5 && !looksLikePlaceholder(v) ? 0.9 : null),
);

const githubPat = prefixed('github_pat', ['ghp_'], /ghp_[A-Za-z0-9]{36}(?![A-Za-z0-9_])/y, 1);
const githubFineGrained = prefixed(
  'github_fine_grained_pat',
  ['github_pat_'],
  /github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}(?![A-Za-z0-9_])/y,
  1,
);
const githubOauth = prefixed('github_oauth_token', ['gho_'], /gho_[A-Za-z0-9]{36}(?![A-Za-z0-9_])/y, 1);
const githubApp = prefixed('github_app_token', ['ghu_', 'ghs_', 'ghr_'], /gh[usr]_[A-Za-z0-9]{36}(?![A-Za-z0-9_])/y, 1);

const gitlab = prefixed(
  'gitlab_token',
  ['glpat-', 'gldt-', 'glrt-', 'glptt-', 'glft-', 'glimt-', 'glsoat-', 'glcbt-'],
  /gl(?:pat|dt|rt|ptt|ft|imt|soat|cbt)-[A-Za-z0-9_-]{20}(?:[A-Za-z0-9_.-]{0,80}[A-Za-z0-9_-])?(?![A-Za-z0-9_-])/y,
  1,
);

const slackBot = prefixed(
  'slack_bot_token',
  ['xoxb-'],
  /xoxb-[0-9]{8,14}-[0-9]{8,14}-[A-Za-z0-9]{20,40}(?![A-Za-z0-9])/y,
  1,
);
const slackUser = prefixed(
  'slack_user_token',
  ['xoxp-', 'xoxe-', 'xoxa-', 'xoxr-', 'xoxs-'],
  /xox[pears]-[0-9]{8,14}-(?:[0-9]{8,14}-){0,2}[A-Za-z0-9]{20,64}(?![A-Za-z0-9])/y,
  1,
);
const slackApp = prefixed(
  'slack_app_token',
  ['xapp-'],
  /xapp-[0-9]-[A-Z0-9]{9,12}-[0-9]{10,14}-[A-Za-z0-9]{40,80}(?![A-Za-z0-9])/y,
  1,
);

const slackWebhookRe =
  /hooks\.slack\.com\/(?:services|workflows|triggers)\/[A-Za-z0-9]{8,12}\/[A-Za-z0-9]{8,12}\/[A-Za-z0-9]{20,40}(?![A-Za-z0-9])/y;
const slackWebhook: AnchoredDetector = {
  ids: ['slack_webhook_url'],
  category: 'secret',
  anchors: ['hooks.slack.com/'],
  caseInsensitive: false,
  patterns: [slackWebhookRe],
  matchAt(text, at) {
    const m = execAt(slackWebhookRe, text, at);
    if (m === null) return null;
    // Claim the scheme too so the redacted URL is not half a link.
    let start = at;
    if (text.startsWith('https://', at - 8)) start = at - 8;
    else if (text.startsWith('http://', at - 7)) start = at - 7;
    return { detector: 'slack_webhook_url', start, end: at + m[0].length, confidence: 1 };
  },
};

const stripeLive = prefixed('stripe_live_key', ['sk_live_'], /sk_live_[A-Za-z0-9]{20,247}(?![A-Za-z0-9])/y, 1);
const stripeRestricted = prefixed(
  'stripe_restricted_key',
  ['rk_live_'],
  /rk_live_[A-Za-z0-9]{20,247}(?![A-Za-z0-9])/y,
  1,
);

const googleApiKey = prefixed('google_api_key', ['AIza'], /AIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])/y, 1);

const saTypeRe = /\\?"type\\?"[ \t\r\n]{0,8}:[ \t\r\n]{0,8}\\?"$/;
const googleServiceAccount: AnchoredDetector = {
  ids: ['google_service_account'],
  category: 'secret',
  anchors: ['service_account'],
  caseInsensitive: false,
  patterns: [saTypeRe],
  matchAt(text, at) {
    // Only `"type": "service_account"` (possibly JSON-escaped inside another
    // JSON string) counts; the word alone in prose does not.
    const before = text.slice(Math.max(0, at - 40), at);
    if (!saTypeRe.test(before)) return null;
    const open = text.lastIndexOf('{', at);
    if (open < 0 || at - open > 4096) return null;
    const close = text.indexOf('}', at);
    if (close < 0 || close - at > 16384) return null;
    const body = text.slice(open, close + 1);
    if (!body.includes('private_key')) return null;
    return { detector: 'google_service_account', start: open, end: close + 1, confidence: 1 };
  },
};

const azureKeyRe = new RegExp(`${ASSIGN}([A-Za-z0-9+/]{86}==)(?![A-Za-z0-9+/=])`, 'dy');
const azureStorageKey = contextual(
  'azure_storage_key',
  ['accountkey', 'azure_storage_key', 'azure_storage_account_key', 'azure_storage_access_key', 'storage_account_key'],
  azureKeyRe,
  (v) => (shannonEntropy(v) >= 4 ? 0.95 : null),
);

// Connection strings are `Key=Value;` lists; everything up to whitespace or a
// quote belongs to it. We claim the whole string when it carries a credential.
const azureConnCredRe = /(?:AccountKey|SharedAccessKey|SharedAccessSignature)=[^;\s"'<>\\]{20,}/i;
const azureConnection: AnchoredDetector = {
  ids: ['azure_connection_string'],
  category: 'secret',
  anchors: ['defaultendpointsprotocol=', 'endpoint=sb://', 'blobendpoint=https://'],
  caseInsensitive: true,
  patterns: [azureConnCredRe],
  matchAt(text, at) {
    if (!boundaryBefore(text, at)) return null;
    const limit = Math.min(text.length, at + 2048);
    let end = at;
    while (end < limit) {
      const c = text.charCodeAt(end);
      // whitespace, quotes, backslash (JSON escape), angle brackets end it
      if (c <= 32 || c === 34 || c === 39 || c === 92 || c === 60 || c === 62 || c === 96) break;
      end++;
    }
    if (!azureConnCredRe.test(text.slice(at, end))) return null;
    return { detector: 'azure_connection_string', start: at, end, confidence: 1 };
  },
};

const anthropic = prefixed(
  'anthropic_api_key',
  ['sk-ant-'],
  /sk-ant-(?:api|admin|sid|oat)[0-9]{2}-[A-Za-z0-9_-]{40,160}(?![A-Za-z0-9_-])/y,
  1,
);

const openai = prefixed(
  'openai_api_key',
  ['sk-'],
  /sk-(?:(?:proj|svcacct|admin|None)-[A-Za-z0-9_-]{40,200}|[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}|[A-Za-z0-9]{48})(?![A-Za-z0-9_-])/y,
  0.95,
  // A project key without the `T3BlbkFJ` marker is accepted only if it looks random.
  (v) => v.includes('T3BlbkFJ') || shannonEntropy(v) >= 4,
);

const npm = prefixed('npm_token', ['npm_'], /npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])/y, 1, (v) => shannonEntropy(v) >= 3.5);
const pypi = prefixed(
  'pypi_token',
  ['pypi-AgEIcHlwaS5vcmc', 'pypi-AgENdGVzdC5weXBpLm9yZw'],
  /pypi-AgE(?:IcHlwaS5vcmc|NdGVzdC5weXBpLm9yZw)[A-Za-z0-9_-]{50,400}(?![A-Za-z0-9_-])/y,
  1,
);
const twilio = prefixed('twilio_api_key', ['SK'], /SK[0-9a-f]{32}(?![0-9A-Za-z])/y, 0.85);
const sendgrid = prefixed(
  'sendgrid_api_key',
  ['SG.'],
  /SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/y,
  1,
);

/** Largest key body searched for its END line (an 8192-bit RSA key is ~6.5 KB of base64). */
const MAX_KEY_BODY = 65536;
/** How much of a key with no END line is claimed: more than any real key body, little enough to stay linear. */
const MAX_TRUNCATED_KEY_BODY = 8192;

const pemHeaderRe =
  /-----BEGIN (?:(RSA |DSA |EC |ENCRYPTED |)PRIVATE KEY|(OPENSSH) PRIVATE KEY|(PGP) PRIVATE KEY BLOCK)-----/y;
const privateKey: AnchoredDetector = {
  ids: ['pem_private_key', 'openssh_private_key', 'pgp_private_key'],
  category: 'secret',
  anchors: ['-----BEGIN '],
  caseInsensitive: false,
  patterns: [pemHeaderRe],
  matchAt(text, at) {
    const m = execAt(pemHeaderRe, text, at);
    if (m === null) return null;
    const detector: BuiltinDetectorId =
      m[2] !== undefined ? 'openssh_private_key' : m[3] !== undefined ? 'pgp_private_key' : 'pem_private_key';
    const bodyStart = at + m[0].length;
    // Search a bounded window so a body full of BEGIN lines stays linear.
    const window = text.slice(bodyStart, bodyStart + MAX_KEY_BODY);
    const rel = window.indexOf('-----END ');
    const endMarker = rel < 0 ? -1 : bodyStart + rel;
    if (endMarker >= 0) {
      const close = text.indexOf('-----', endMarker + 9);
      const end = close >= 0 && close - endMarker < 64 ? close + 5 : endMarker + 9;
      return { detector, start: at, end, confidence: 1 };
    }
    // A truncated key still leaks key material: claim the base64 body that follows.
    let end = bodyStart;
    const limit = Math.min(text.length, bodyStart + MAX_TRUNCATED_KEY_BODY);
    while (end < limit) {
      const c = text.charCodeAt(end);
      if (isAlnum(c) || c === 43 || c === 47 || c === 61 || c === 10 || c === 13 || c === 32 || c === 92 || c === 58 || c === 45) {
        end++;
      } else {
        break;
      }
    }
    return { detector, start: at, end, confidence: 0.95 };
  },
};

const jwtRe = /eyJ[A-Za-z0-9_-]{8,1024}\.eyJ[A-Za-z0-9_-]{2,8192}\.[A-Za-z0-9_-]{0,4096}(?![A-Za-z0-9_.-])/y;
const jwt: AnchoredDetector = {
  ids: ['jwt'],
  category: 'secret',
  anchors: ['eyJ'],
  caseInsensitive: false,
  patterns: [jwtRe],
  matchAt(text, at) {
    if (!boundaryBefore(text, at) || text.charCodeAt(at - 1) === 45 || text.charCodeAt(at - 1) === 95) return null;
    const m = execAt(jwtRe, text, at);
    if (m === null) return null;
    // The header must decode to JSON naming an algorithm; random base64 that
    // happens to start with `eyJ` (any `{"`-prefixed blob) does not.
    const dot = m[0].indexOf('.');
    const header = decodeBase64Url(m[0].slice(0, dot));
    if (header === null || !/"(?:alg|typ|kid)"\s*:/.test(header)) return null;
    return { detector: 'jwt', start: at, end: at + m[0].length, confidence: 0.95 };
  },
};

/** RFC 2606/6761 names reserved for documentation and testing. */
const EXAMPLE_DOMAIN_RE = /(?:^|\.)(?:example\.(?:com|org|net)|example|test|invalid|localhost|local)$/i;

/** Hosts only documentation uses; `localhost` and `.local` are real (developer) hosts, so they still count. */
const DOC_HOST_RE = /(?:^|\.)(?:example\.(?:com|org|net)|example|test|invalid)$/i;

const urlSchemeRe = /[A-Za-z][A-Za-z0-9+.-]{0,30}$/;
const urlUserinfoRe = /[^\s:@/?#"'<>\\]{1,128}:([^\s@/?#"'<>\\]{1,256})@([A-Za-z0-9.-]{1,253}|\[)/dy;
const urlCredentials: AnchoredDetector = {
  ids: ['url_credentials'],
  category: 'secret',
  anchors: ['://'],
  caseInsensitive: false,
  patterns: [urlSchemeRe, urlUserinfoRe],
  matchAt(text, at) {
    if (!urlSchemeRe.test(text.slice(Math.max(0, at - 31), at))) return null;
    const m = execAt(urlUserinfoRe, text, at + 3);
    const span = m?.indices?.[1];
    const pass = m?.[1];
    if (span === undefined || pass === undefined) return null;
    if (looksLikePlaceholder(pass) || /^(?:pass(?:word)?|pwd|secret|x+|\*+|user|token)$/i.test(pass)) return null;
    // Documentation URLs (`https://abc:xyz@example.com`) carry sample credentials.
    if (DOC_HOST_RE.test(m?.[2] ?? '')) return null;
    // Only the password is claimed: the redacted URL still shows host and user.
    return { detector: 'url_credentials', start: span[0], end: span[1], confidence: 0.9 };
  },
};

const phantom = prefixed(
  'cordon_phantom_token',
  ['cdn_ph_'],
  /cdn_ph_[A-Za-z0-9_-]{43,256}(?![A-Za-z0-9_-])/y,
  1,
);

const genericRe = new RegExp(`${ASSIGN}([^\\s"'\\x60\\\\,;<>(){}\\[\\]]{8,200})`, 'dy');
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MEMBER_ACCESS_RE = /^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+$/;
/**
 * A CamelCase type name: capital runs, each followed by at most 12 lower-case
 * letters and then at most 2 digits, or by at most 2 digits alone. Written
 * so that every string splits into those parts one way only; the earlier
 * `^(?:[A-Z]{1,5}[a-z]{0,12}[0-9]{0,2})+$` could split a long capital run
 * exponentially many ways and hung a scan on `accesskey=AIOSF…NTIALmt-`.
 */
export const TYPE_NAME_RE = /^[A-Z]+(?:(?:[a-z]{1,12}[0-9]{0,2}|[0-9]{1,2})[A-Z]+)*(?:[a-z]{1,12}[0-9]{0,2}|[0-9]{1,2})?$/;
const CHAR_CLASSES = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/];

/**
 * The entropy gate for values found only by a context word. A value must be
 * long enough, look random (bits per char), mix character classes and not be
 * a placeholder, a UUID, a dotted identifier or a file path.
 */
export function passesSecretEntropyGate(value: string): number | null {
  if (value.length < 8 || looksLikePlaceholder(value)) return null;
  if (UUID_RE.test(value) || MEMBER_ACCESS_RE.test(value) || /^[./~]|\.(?:json|ya?ml|txt|pem|key|env)$/i.test(value)) {
    return null;
  }
  const h = shannonEntropy(value);
  // Lower-case words joined by - _ or . (`same-origin`, `read_only`) are settings, not secrets.
  if (/^[a-z]+(?:[-_.][a-z]+)*$/.test(value)) return null;
  // Letters only: a word, a constant or a CamelCase type (`token: CommentOrToken`)
  // unless the case is as mixed as random text (30-70% capitals) and long enough.
  if (/^[A-Za-z_]+$/.test(value)) {
    let upper = 0;
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i);
      if (c >= 65 && c <= 90) upper++;
    }
    const ratio = upper / value.length;
    if (value.length < 12 || ratio < 0.3 || ratio > 0.7 || h < 3.5) return null;
  }
  let classes = 0;
  for (const re of CHAR_CLASSES) if (re.test(value)) classes++;
  const needed = value.length >= 20 ? 3.2 : 2.8;
  if (classes < 2 || h < needed) return null;
  return Math.min(0.9, 0.5 + (h - needed) / 4);
}

const bearerRe = /[ \t]{0,4}([A-Za-z0-9._~+/-]{16,512}=*)(?![A-Za-z0-9._~+/=-])/dy;

const genericAssignment: AnchoredDetector = {
  ids: ['generic_secret_assignment'],
  category: 'secret',
  anchors: [
    'password', 'passwd', 'passphrase', 'secret', 'token', 'api_key', 'apikey', 'api-key', 'access_key', 'accesskey',
    'auth_key', 'credential', 'private_key', 'client_secret', 'pwd', 'bearer ',
  ],
  caseInsensitive: true,
  patterns: [genericRe, bearerRe],
  matchAt(text, at, anchor) {
    // `Authorization: Bearer <opaque>` has no assignment operator: the scheme word is the context.
    const bearer = anchor === 'bearer ';
    if (!bearer && !mayStartAssign(text.charCodeAt(at + anchor.length))) return null;
    const m = execAt(bearer ? bearerRe : genericRe, text, at + anchor.length);
    const span = m?.indices?.[1];
    const value = m?.[1];
    if (span === undefined || value === undefined) return null;
    // `token = makeToken(x)`: the value stops at `(`, and a call is not a secret.
    if (text.charCodeAt(span[1]) === 40) return null;
    // `ArrowToken = ArrowToken$1`: a value naming the concept is an identifier, not a secret.
    if (value.toLowerCase().includes(anchor.toLowerCase())) return null;
    // `secret: Uint8Array)` / `creds: OAuth2Client,`: a CamelCase type name in a
    // parameter list or generic, not a value. (A YAML value ends at the line end.)
    if (TYPE_NAME_RE.test(value) && /[),;<>[\]{|=]/.test(text[span[1]] ?? '')) return null;
    const c = passesSecretEntropyGate(value);
    if (c === null) return null;
    return { detector: 'generic_secret_assignment', start: span[0], end: span[1], confidence: c };
  },
};

const emailDomainRe =
  /(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}([A-Za-z]{2,24})(?![A-Za-z0-9-])/y;
const NOT_TLDS = new Set([
  'png', 'jpg', 'jpeg', 'gif', 'svg', 'webp', 'ico', 'js', 'mjs', 'cjs', 'ts', 'tsx', 'jsx', 'css', 'scss', 'map', 'json',
  'html', 'md', 'txt', 'py', 'rb', 'go', 'rs', 'java', 'lock', 'yaml', 'yml', 'toml', 'xml', 'wasm', 'pdf', 'zip', 'gz',
]);
const email: AnchoredDetector = {
  ids: ['email'],
  category: 'pii',
  anchors: ['@'],
  caseInsensitive: false,
  patterns: [emailDomainRe],
  matchAt(text, at) {
    // Walk back over the local part (RFC 5321 caps it at 64 characters).
    let start = at;
    const floor = Math.max(0, at - 64);
    while (start > floor) {
      const c = text.charCodeAt(start - 1);
      if (isAlnum(c) || c === 46 || c === 95 || c === 37 || c === 43 || c === 45) start--;
      else break;
    }
    if (start === at || text.charCodeAt(start) === 46 || text.charCodeAt(at - 1) === 46) return null;
    if (start === floor && floor > 0 && isAlnum(text.charCodeAt(floor - 1))) return null;
    const m = execAt(emailDomainRe, text, at + 1);
    const tld = m?.[1];
    if (m === null || tld === undefined) return null;
    if (NOT_TLDS.has(tld.toLowerCase())) return null;
    const domain = m[0];
    if (EXAMPLE_DOMAIN_RE.test(domain)) return null;
    // `git@github.com:org/repo` is an SSH remote, and GitHub's noreply addresses identify no one.
    if (text.slice(start, at) === 'git' || /users\.noreply\.github\.com$/i.test(domain)) return null;
    return { detector: 'email', start, end: at + 1 + domain.length, confidence: 0.95 };
  },
};

/**
 * Patterns detectors run on a value they have already matched (not at an
 * anchor): listed so the ReDoS check proves them safe too.
 */
export const VALUE_CHECK_PATTERNS: readonly RegExp[] = [EXAMPLE_DOMAIN_RE, DOC_HOST_RE, UUID_RE, MEMBER_ACCESS_RE, TYPE_NAME_RE];

/** Every anchored built-in detector, in no particular order. */
export const ANCHORED_DETECTORS: readonly AnchoredDetector[] = [
  awsAccessKey, awsSecretKey, githubPat, githubFineGrained, githubOauth, githubApp, gitlab, slackBot, slackUser, slackApp,
  slackWebhook, stripeLive, stripeRestricted, googleApiKey, googleServiceAccount, azureStorageKey, azureConnection,
  anthropic, openai, npm, pypi, twilio, sendgrid, privateKey, jwt, urlCredentials, phantom, genericAssignment, email,
];

/**
 * Overlap precedence: when two built-in findings overlap, the higher rank
 * wins (then the longer span). Whole-structure findings outrank the tokens
 * inside them, specific formats outrank context guesses, and secrets outrank PII.
 */
export function detectorRank(id: BuiltinDetectorId): number {
  switch (id) {
    case 'pem_private_key':
    case 'openssh_private_key':
    case 'pgp_private_key':
    case 'google_service_account':
    case 'azure_connection_string':
      return 5;
    case 'aws_access_key_id':
    case 'github_pat':
    case 'github_fine_grained_pat':
    case 'github_oauth_token':
    case 'github_app_token':
    case 'gitlab_token':
    case 'slack_bot_token':
    case 'slack_user_token':
    case 'slack_app_token':
    case 'slack_webhook_url':
    case 'stripe_live_key':
    case 'stripe_restricted_key':
    case 'google_api_key':
    case 'anthropic_api_key':
    case 'openai_api_key':
    case 'npm_token':
    case 'pypi_token':
    case 'twilio_api_key':
    case 'sendgrid_api_key':
    case 'cordon_phantom_token':
      return 4;
    case 'aws_secret_access_key':
    case 'azure_storage_key':
    case 'jwt':
    case 'url_credentials':
      return 3;
    case 'generic_secret_assignment':
      return 2;
    case 'credit_card':
    case 'us_ssn':
    case 'iban':
    case 'email':
    case 'phone':
    case 'corporate_ip':
      return 1;
  }
}
