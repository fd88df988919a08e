// Synthetic, labelled DLP samples: a true-positive generator and hard
// negatives for every built-in detector. Shared by the unit tests, the eval-set
// script and the benchmark so that all three measure the same thing. Every
// value is random from a seeded PRNG: none is a real credential, and vendor
// prefixes are assembled at run time so this file itself holds no key-shaped
// literal for secret scanners to trip on.

import { luhnValid } from './validators.js';
import type { BuiltinDetectorId } from './types.js';

/** A small, fast, seeded PRNG (mulberry32): deterministic eval sets across runs. */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  next(): number {
    this.#s = (this.#s + 0x6d2b79f5) >>> 0;
    let t = this.#s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    const x = xs[Math.floor(this.next() * xs.length)];
    if (x === undefined) throw new Error('pick from empty list');
    return x;
  }
  str(alphabet: string, n: number): string {
    let out = '';
    for (let i = 0; i < n; i++) out += alphabet[Math.floor(this.next() * alphabet.length)] ?? '';
    return out;
  }
}

const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const DIGITS = '0123456789';
const ALNUM = UPPER + LOWER + DIGITS;
const B64 = ALNUM + '+/';
const B64URL = ALNUM + '-_';
const HEX = '0123456789abcdef';

// Prefixes joined at run time (see the header comment).
const P = (...xs: string[]): string => xs.join('');

/** A labelled sample: text plus the spans that must be found (empty for negatives). */
export interface LabelledSample {
  readonly text: string;
  readonly labels: readonly { readonly detector: BuiltinDetectorId; readonly start: number; readonly end: number }[];
}

/** Wraps `value` in `template` (which contains `{}` once) and labels its span. */
export function embed(template: string, value: string, detector: BuiltinDetectorId): LabelledSample {
  const at = template.indexOf('{}');
  const text = template.slice(0, at) + value + template.slice(at + 2);
  return { text, labels: [{ detector, start: at, end: at + value.length }] };
}

function luhnComplete(prefix: string, length: number, rng: Rng): string {
  let body = prefix + rng.str(DIGITS, length - prefix.length - 1);
  for (let d = 0; d <= 9; d++) {
    if (luhnValid(body + d)) return body + d;
  }
  body = prefix + rng.str(DIGITS, length - prefix.length - 1);
  return luhnComplete(prefix, length, rng);
}

function ibanFor(country: string, bban: string): string {
  const rearranged = bban + country + '00';
  let rem = 0;
  for (const ch of rearranged) {
    const c = ch.charCodeAt(0);
    rem = c >= 65 ? (rem * 100 + (c - 55)) % 97 : (rem * 10 + (c - 48)) % 97;
  }
  const check = String(98 - rem).padStart(2, '0');
  return country + check + bban;
}

function b64url(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64url');
}

function pemBody(rng: Rng, lines: number): string {
  const out: string[] = [];
  for (let i = 0; i < lines; i++) out.push(rng.str(B64, 64));
  return out.join('\n');
}

/** Generator of one true positive: [value, templates the value may sit in]. */
type Gen = (rng: Rng) => { value: string; templates: readonly string[] };

const CODE_TEMPLATES = ['const key = "{}";', 'export API_KEY={}', '  "token": "{}",', 'Use {} for the deploy.', 'key: {}\n'];

/** True-positive generators per detector. */
export const POSITIVE_GENERATORS: Readonly<Record<BuiltinDetectorId, Gen>> = {
  aws_access_key_id: (r) => ({
    value: r.pick(['AKIA', 'ASIA']) + r.str(UPPER + '234567', 16),
    templates: ['aws_access_key_id = {}', 'AWS_ACCESS_KEY_ID={}', '"AccessKeyId": "{}"', 'the key {} was rotated'],
  }),
  aws_secret_access_key: (r) => ({
    value: r.str(B64, 40),
    templates: ['aws_secret_access_key = {}', 'AWS_SECRET_ACCESS_KEY="{}"', '"SecretAccessKey": "{}"', 'secret_access_key: {}\n'],
  }),
  github_pat: (r) => ({ value: P('gh', 'p_') + r.str(ALNUM, 36), templates: CODE_TEMPLATES }),
  github_fine_grained_pat: (r) => ({
    value: P('github', '_pat_') + r.str(ALNUM, 22) + '_' + r.str(ALNUM, 59),
    templates: CODE_TEMPLATES,
  }),
  github_oauth_token: (r) => ({ value: P('gh', 'o_') + r.str(ALNUM, 36), templates: CODE_TEMPLATES }),
  github_app_token: (r) => ({ value: P('gh', r.pick(['s', 'u', 'r']), '_') + r.str(ALNUM, 36), templates: CODE_TEMPLATES }),
  gitlab_token: (r) => ({ value: P('gl', 'pat-') + r.str(ALNUM + '_-', 20), templates: CODE_TEMPLATES }),
  slack_bot_token: (r) => ({
    value: `${P('xo', 'xb-')}${r.str(DIGITS, 11)}-${r.str(DIGITS, 13)}-${r.str(ALNUM, 24)}`,
    templates: CODE_TEMPLATES,
  }),
  slack_user_token: (r) => ({
    value: `${P('xo', 'xp-')}${r.str(DIGITS, 11)}-${r.str(DIGITS, 11)}-${r.str(DIGITS, 12)}-${r.str(HEX, 32)}`,
    templates: CODE_TEMPLATES,
  }),
  slack_app_token: (r) => ({
    value: `${P('xa', 'pp-')}1-A${r.str(UPPER + DIGITS, 10)}-${r.str(DIGITS, 13)}-${r.str(HEX, 64)}`,
    templates: CODE_TEMPLATES,
  }),
  slack_webhook_url: (r) => ({
    value: `https://${P('hooks.', 'slack.com')}/services/T${r.str(UPPER + DIGITS, 8)}/B${r.str(UPPER + DIGITS, 10)}/${r.str(ALNUM, 24)}`,
    templates: ['SLACK_WEBHOOK={}', 'curl -X POST {} -d @msg.json', 'webhook: "{}"'],
  }),
  stripe_live_key: (r) => ({ value: P('sk', '_live_') + r.str(ALNUM, r.int(24, 99)), templates: CODE_TEMPLATES }),
  stripe_restricted_key: (r) => ({ value: P('rk', '_live_') + r.str(ALNUM, r.int(24, 99)), templates: CODE_TEMPLATES }),
  google_api_key: (r) => ({ value: P('AI', 'za') + r.str(ALNUM + '_-', 35), templates: CODE_TEMPLATES }),
  google_service_account: (r) => ({
    value: JSON.stringify(
      {
        type: 'service_account',
        project_id: `proj-${r.str(LOWER, 6)}`,
        private_key_id: r.str(HEX, 40),
        private_key: `${P('-----BEGIN ', 'PRIVATE KEY-----')}\n${pemBody(r, 4)}\n-----END PRIVATE KEY-----\n`,
        client_email: `svc@proj-${r.str(LOWER, 6)}.iam.gserviceaccount.com`,
      },
      null,
      2,
    ),
    templates: ['Here is the credentials file:\n{}\n', 'cat sa.json\n{}'],
  }),
  azure_storage_key: (r) => ({
    value: r.str(B64, 86) + '==',
    templates: ['AZURE_STORAGE_KEY={}', 'azure_storage_account_key: "{}"', 'AccountKey={}'],
  }),
  azure_connection_string: (r) => ({
    value: `DefaultEndpointsProtocol=https;AccountName=acct${r.str(LOWER, 5)};AccountKey=${r.str(B64, 86)}==;EndpointSuffix=core.windows.net`,
    templates: ['AZURE_STORAGE_CONNECTION_STRING="{}"', 'conn = "{}"', '{}\n'],
  }),
  anthropic_api_key: (r) => ({
    value: P('sk-', 'ant-api03-') + r.str(ALNUM + '_-', 93) + 'AA',
    templates: ['ANTHROPIC_API_KEY={}', 'x-api-key: {}', ...CODE_TEMPLATES],
  }),
  openai_api_key: (r) => ({
    value: r.next() < 0.5 ? P('sk-', 'proj-') + r.str(ALNUM + '_-', r.int(48, 156)) : `sk-${r.str(ALNUM, 20)}${P('T3Blbk', 'FJ')}${r.str(ALNUM, 20)}`,
    templates: ['OPENAI_API_KEY={}', 'Authorization: Bearer {}', ...CODE_TEMPLATES],
  }),
  npm_token: (r) => ({ value: P('np', 'm_') + r.str(ALNUM, 36), templates: ['//registry.npmjs.org/:_authToken={}', ...CODE_TEMPLATES] }),
  pypi_token: (r) => ({ value: P('pypi-', 'AgEIcHlwaS5vcmc') + r.str(B64URL, r.int(60, 180)), templates: ['password = {}', ...CODE_TEMPLATES] }),
  twilio_api_key: (r) => ({ value: P('S', 'K') + r.str(HEX, 32), templates: CODE_TEMPLATES }),
  sendgrid_api_key: (r) => ({ value: `${P('S', 'G.')}${r.str(B64URL, 22)}.${r.str(B64URL, 43)}`, templates: CODE_TEMPLATES }),
  pem_private_key: (r) => {
    const kind = r.pick(['RSA ', 'EC ', '', 'ENCRYPTED ']);
    return {
      value: `${P('-----BEGIN ', kind, 'PRIVATE KEY-----')}\n${pemBody(r, r.int(3, 12))}\n-----END ${kind}PRIVATE KEY-----`,
      templates: ['{}\n', 'key.pem:\n{}\nthanks', '```\n{}\n```'],
    };
  },
  openssh_private_key: (r) => ({
    value: `${P('-----BEGIN OPENSSH ', 'PRIVATE KEY-----')}\nb3BlbnNzaC1rZXktdjEAAAAA${pemBody(r, 5)}\n-----END OPENSSH PRIVATE KEY-----`,
    templates: ['{}\n', '~/.ssh/id_ed25519:\n{}'],
  }),
  pgp_private_key: (r) => ({
    value: `${P('-----BEGIN PGP ', 'PRIVATE KEY BLOCK-----')}\n\nlQOYBF${pemBody(r, 6)}\n=${r.str(B64, 4)}\n-----END PGP PRIVATE KEY BLOCK-----`,
    templates: ['{}\n', 'exported:\n{}'],
  }),
  jwt: (r) => ({
    value: `${b64url(JSON.stringify({ alg: r.pick(['HS256', 'RS256', 'ES256']), typ: 'JWT' }))}.${b64url(
      JSON.stringify({ sub: r.str(ALNUM, 10), iat: r.int(1.6e9, 1.8e9), role: r.pick(['admin', 'user']) }),
    )}.${r.str(B64URL, 43)}`,
    templates: ['Authorization: Bearer {}', 'token={}', 'cookie: session={}; path=/'],
  }),
  url_credentials: (r) => ({
    value: r.str(ALNUM, 6) + r.pick(['!', '%21', '9', 'x']) + r.str(ALNUM, r.int(6, 14)),
    templates: [
      'DATABASE_URL=postgres://app:{}@db.internal:5432/main',
      'git clone https://deploy:{}@git.corp.internal/repo.git',
      'redis://default:{}@cache:6379/0',
      'amqp://svc:{}@mq.local/vhost',
    ],
  }),
  cordon_phantom_token: (r) => ({ value: P('cdn', '_ph_') + r.str(B64URL, r.int(43, 64)), templates: CODE_TEMPLATES }),
  generic_secret_assignment: (r) => ({
    value: r.str(ALNUM, r.int(4, 10)) + r.pick(['#', '!', '$', '9', 'Q']) + r.str(ALNUM + '!@#%^&*', r.int(6, 20)),
    templates: [
      'password = "{}"',
      'DB_PASSWORD={}',
      'client_secret: {}\n',
      '"api_key": "{}"',
      'SESSION_SECRET={}',
      'auth_token => \'{}\'',
      'my $passwd = "{}";',
    ],
  }),
  credit_card: (r) => {
    const [prefix, len] = r.pick([['4', 16], ['51', 16], ['55', 16], ['2221', 16], ['34', 15], ['37', 15], ['6011', 16], ['3530', 16]] as const);
    const digits = luhnComplete(prefix, len, r);
    const style = r.int(0, 2);
    let value = digits;
    if (style > 0 && len === 16) {
      const sep = style === 1 ? ' ' : '-';
      value = [digits.slice(0, 4), digits.slice(4, 8), digits.slice(8, 12), digits.slice(12)].join(sep);
    } else if (style > 0 && len === 15) {
      value = [digits.slice(0, 4), digits.slice(4, 10), digits.slice(10)].join(' ');
    }
    return { value, templates: ['card: {}', 'Please charge {} for the order.', '"pan": "{}"', 'CC {} exp 12/29'] };
  },
  us_ssn: (r) => {
    let area = r.int(1, 899);
    if (area === 666) area = 667;
    const value = `${String(area).padStart(3, '0')}-${String(r.int(1, 99)).padStart(2, '0')}-${String(r.int(1, 9999)).padStart(4, '0')}`;
    return { value, templates: ['SSN: {}', 'employee ssn {} on file', '"ssn": "{}"'] };
  },
  iban: (r) => {
    const country = r.pick(['DE', 'GB', 'FR', 'NL', 'ES', 'CH']);
    const bban =
      country === 'DE'
        ? r.str(DIGITS, 18)
        : country === 'GB'
          ? r.str(UPPER, 4) + r.str(DIGITS, 14)
          : country === 'FR'
            ? r.str(DIGITS, 23)
            : country === 'NL'
              ? r.str(UPPER, 4) + r.str(DIGITS, 10)
              : country === 'ES'
                ? r.str(DIGITS, 20)
                : r.str(DIGITS, 17);
    const iban = ibanFor(country, bban);
    const value = r.next() < 0.5 ? iban : (iban.match(/.{1,4}/g) ?? []).join(' ');
    return { value, templates: ['IBAN: {}', 'wire to {} today', '"iban": "{}"'] };
  },
  email: (r) => ({
    value: `${r.pick(['jane', 'john', 'a.smith', 'ops-team', 'k.tanaka'])}${r.int(1, 999)}@${r.pick(['acme-corp', 'globex', 'initech', 'mail'])}.${r.pick(['com', 'io', 'de', 'co.uk'])}`,
    templates: ['contact {} for access', 'From: {}', '"email": "{}"', 'cc: <{}>'],
  }),
  phone: (r) => ({
    value: r.pick([
      `+1 (${r.int(201, 989)}) ${r.int(201, 989)}-${r.str(DIGITS, 4)}`,
      `${r.int(201, 989)}-${r.int(201, 989)}-${r.str(DIGITS, 4)}`,
      `+44 20 ${r.str(DIGITS, 4)} ${r.str(DIGITS, 4)}`,
      `+49${r.int(151, 179)}${r.str(DIGITS, 8)}`,
      `(${r.int(201, 989)}) ${r.int(201, 989)}-${r.str(DIGITS, 4)}`,
    ]),
    templates: ['call me at {}', 'Phone: {}', '"phone": "{}"', 'mobile {} (after 5pm)'],
  }),
  corporate_ip: (r) => ({
    value: `10.${r.int(0, 255)}.${r.int(0, 255)}.${r.int(1, 254)}`,
    templates: ['ssh admin@{} -p 22', 'upstream {}:8080;', 'db host = {}'],
  }),
};

/**
 * Look-alikes that must produce no finding at all (with corporate CIDR
 * 10.0.0.0/8 configured): UUIDs, git SHAs, hashes, base64 blobs, Luhn-invalid
 * numbers, invalid SSNs, bad IBAN checksums, placeholders, example values.
 */
export function hardNegatives(r: Rng): string[] {
  const badLuhn = (): string => {
    const d = luhnComplete('4', 16, r);
    return d.slice(0, 15) + String((Number(d[15]) + 1) % 10);
  };
  const uuid = (): string => `${r.str(HEX, 8)}-${r.str(HEX, 4)}-4${r.str(HEX, 3)}-a${r.str(HEX, 3)}-${r.str(HEX, 12)}`;
  return [
    `request id ${uuid()} completed`,
    `token = "${uuid()}"`,
    `commit ${r.str(HEX, 40)} fixes the build`,
    `sha256: ${r.str(HEX, 64)}`,
    `md5sum ${r.str(HEX, 32)}  file.tar.gz`,
    `blob: ${r.str(B64, 88)}`,
    `data:image/png;base64,${r.str(B64, 120)}==`,
    `eyJ${r.str(B64URL, 30)}.${r.str(B64URL, 20)}.${r.str(B64URL, 20)}`,
    `order number ${badLuhn()}`,
    `timestamp ${r.int(1_600_000_000_000, 1_800_000_000_000)} ms`,
    `SSN: 000-${r.str(DIGITS, 2)}-${r.str(DIGITS, 4)}`,
    `ssn 666-12-${r.str(DIGITS, 4)}`,
    `ssn 9${r.str(DIGITS, 2)}-12-${r.str(DIGITS, 4)}`,
    `ssn 123-00-4567`,
    `IBAN: DE00${r.str(DIGITS, 18)}`,
    `aws_access_key_id = AKIAIOSFODNN7EXAMPLE`,
    `aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY`,
    `api_key = "<your-key-here>"`,
    `password = "\${DB_PASSWORD}"`,
    `password: changeme`,
    `token = getToken(user)`,
    `secret = os.environ["APP_SECRET"]`,
    `password = config.database.password`,
    `max_tokens = 40960000`,
    `${P('gh', 'p_')}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx`,
    `${P('sk', '_live_')}YOUR_STRIPE_SECRET_KEY_HERE_1234`,
    `email the team at dev@example.com`,
    `icon@2x.png and logo@3x.webp`,
    `npm i @types/node@20.11.0`,
    `@Component({ selector: 'app' })`,
    `released on 2024-01-15 at 10:30`,
    `version 1.2.3.4 of the tool`,
    `public dns 8.8.8.8 and 192.168.1.1`,
    `https://user@host.example.com/path`,
    `postgres://user:password@localhost/db`,
    `postgres://app:\${DB_PASS}@db/main`,
    `${P('-----BEGIN ', 'PUBLIC KEY-----')}\n${r.str(B64, 64)}\n-----END PUBLIC KEY-----`,
    `${P('-----BEGIN ', 'CERTIFICATE-----')}\n${r.str(B64, 64)}\n-----END CERTIFICATE-----`,
    `the task-runner risk-score desk-top`,
    `price 1234 5678 units`,
    `isbn 978-3-16-148410-0`,
    `coordinates 40.7128, -74.0060`,
    // Shapes seen in real code (a scan of node_modules) that must stay quiet:
    `declare function isArrowToken(token: CommentOrToken): token is ArrowToken;`,
    `type ArrowToken = ArrowToken$1;`,
    `setSecret(secret: Uint8Array, signal?: AbortSignal): void`,
    `fetch(url, { credentials: "same-origin" })`,
    `new URL('https://abc:xyz@example.com')`,
    `git clone git@github.com:org/repo.git`,
    `const tokenizer = new Tokenizer(options);`,
  ];
}

/**
 * A deterministic labelled eval set: `perDetector` single-value samples per
 * detector, `perDetector` mixed documents (filler prose and code with three
 * values at random spots), and repeated rounds of hard negatives.
 */
export function buildEvalSet(seed: number, perDetector: number): LabelledSample[] {
  const r = new Rng(seed);
  const out: LabelledSample[] = [];
  const gens = Object.entries(POSITIVE_GENERATORS) as [BuiltinDetectorId, Gen][];
  for (const [id, gen] of gens) {
    for (let i = 0; i < perDetector; i++) {
      const g = gen(r);
      out.push(embed(r.pick(g.templates), g.value, id));
    }
  }
  for (let i = 0; i < perDetector; i++) out.push(mixedDocument(r, gens));
  const rounds = Math.max(1, Math.ceil(perDetector / 2));
  for (let i = 0; i < rounds; i++) for (const text of hardNegatives(r)) out.push({ text, labels: [] });
  return out;
}

function mixedDocument(r: Rng, gens: readonly [BuiltinDetectorId, Gen][]): LabelledSample {
  let text = '';
  const labels: { detector: BuiltinDetectorId; start: number; end: number }[] = [];
  for (let k = 0; k < 3; k++) {
    text += r.next() < 0.5 ? r.pick(PROSE) + '\n' : r.pick(CODE);
    const [id, gen] = r.pick(gens);
    const g = gen(r);
    const sample = embed(r.pick(g.templates), g.value, id);
    for (const l of sample.labels) labels.push({ detector: l.detector, start: l.start + text.length, end: l.end + text.length });
    text += sample.text + '\n';
  }
  text += r.pick(PROSE);
  return { text, labels };
}

const PROSE = [
  'The quarterly review covers onboarding, the migration plan and the open questions from the last meeting.',
  'We agreed to ship the feature behind a flag and measure the impact over two weeks before widening it.',
  'Please read the design notes before the call; the section on caching explains the trade-offs we made.',
  'In 2023 the team processed 1,204 tickets, with a median time to resolution of 3.5 days.',
];
const CODE = [
  'export function parse(input: string): Result<Config, ParseError> {\n  const lines = input.split("\\n");\n  return ok(build(lines));\n}\n',
  'for (let i = 0; i < items.length; i++) {\n  total += items[i].price * items[i].qty;\n}\n',
  'def load(path):\n    with open(path) as f:\n        return json.load(f)\n',
  'SELECT id, name, created_at FROM users WHERE org_id = $1 ORDER BY created_at DESC LIMIT 50;\n',
  'const token = await getAccessToken(session);\nif (!token) throw new Error("not signed in");\n',
  'color: #ff8800; margin: 0 auto; padding: 12px 16px; width: 1280px;\n',
];

/** About `chars` characters of clean prose and code (no findings expected). */
export function cleanCorpus(chars: number, seed = 1): string {
  const r = new Rng(seed);
  const parts: string[] = [];
  let n = 0;
  while (n < chars) {
    const s = r.next() < 0.5 ? r.pick(PROSE) + '\n' : r.pick(CODE);
    parts.push(s);
    n += s.length;
  }
  return parts.join('');
}

/** About `chars` characters of prose and code with a finding every ~`every` characters. */
export function denseCorpus(chars: number, every = 400, seed = 2): string {
  const r = new Rng(seed);
  const gens = Object.values(POSITIVE_GENERATORS);
  const parts: string[] = [];
  let n = 0;
  while (n < chars) {
    let filler = '';
    while (filler.length < every) filler += r.next() < 0.5 ? r.pick(PROSE) + '\n' : r.pick(CODE);
    const g = r.pick(gens)(r);
    const s = filler + embed(r.pick(g.templates), g.value, 'email').text + '\n';
    parts.push(s);
    n += s.length;
  }
  return parts.join('');
}
