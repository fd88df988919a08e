/**
 * `cordon dlp scan|redact`: run the DLP engine on a file or stdin the way the
 * model route would. The CLI is an adapter; detection, actions and the vault
 * live in core/dlp. Neither command ever prints a matched value except as
 * part of the input `redact` passes through unchanged.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { compileDlpPolicy, createModelRequestFilter, createScanner, resolveAction, TokenVault, type CompiledDlpPolicy, type Finding } from '../core/dlp/index.js';
import type { PolicyLoadResult } from '../core/policy/policy-loader.js';
import { formatPolicyIssue } from '../core/policy/policy-schema.js';

/** Streams and exit-code sink the commands use; defaults to the process's own. Tests pass fakes. */
export interface DlpCommandIo {
  readonly stdin: NodeJS.ReadableStream;
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  /** Records the command's exit status (the caller decides when to exit). Default: sets process.exitCode. */
  readonly setExitCode: (code: number) => void;
  readonly readFile: (path: string) => Promise<Uint8Array>;
}

/** Exit statuses of the dlp commands (a contract for scripts; printed in --help). */
export const DLP_EXIT = {
  /** scan: nothing found. redact: the text was printed (unchanged or rewritten). */
  ok: 0,
  /** scan: at least one finding, or the input could not be fully scanned. redact: policy blocks the text, nothing printed. */
  findings: 1,
  /** The input could not be read, or the command line was wrong. */
  usage: 2,
  /** The DLP policy is malformed. */
  policyInvalid: 3,
} as const;

const EXIT_HELP = `
Exit status:
  scan    0 no findings; 1 findings (or the input exceeded the scan budget, so it is
          treated as unsafe); 2 unreadable input; 3 invalid policy
  redact  0 text printed; 1 policy blocks this text (reason on stderr, nothing on
          stdout); 2 unreadable input; 3 invalid policy

Positions in --json output are JavaScript (UTF-16) string indices into the input
decoded as UTF-8 (a byte-order mark, if any, counts as one character).`;

function defaultIo(): DlpCommandIo {
  return {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    setExitCode: (code) => {
      process.exitCode = code;
    },
    readFile: (p) => readFile(p),
  };
}

/**
 * Adds `dlp scan` and `dlp redact` to `program`. `loadPolicy` is the loader
 * every other command uses (CliContext.loadPolicy), called once per
 * invocation after the input is read; an invalid policy (or a loader that
 * throws) is reported and the command exits 3.
 */
export function registerDlpCommands(program: Command, loadPolicy: () => PolicyLoadResult | Promise<PolicyLoadResult>, io: DlpCommandIo = defaultIo()): void {
  const dlp = program.command('dlp').description('Scan or redact text with the DLP policy applied to model requests').addHelpText('after', EXIT_HELP);

  dlp
    .command('scan')
    .description('List sensitive data found in FILE (or stdin): detector, category, position; never the value')
    .argument('[file]', 'file to scan; "-" or omitted reads stdin')
    .option('--json', 'one JSON object per line: {"detector","category","start","end","confidence","action","line","column"}')
    .option('--destination <name>', 'model route whose per-destination rules decide the action shown', 'default')
    .option('--no-budget', "ignore the policy's size and time budget (for scanning large files; the model route always applies it)")
    .addHelpText('after', EXIT_HELP)
    .action(async (file: string | undefined, options: { json?: boolean; destination: string; budget: boolean }) => {
      const input = await readInput(io, file);
      if (input === null) return;
      const dlpPolicy = await loadDlpPolicy(io, loadPolicy);
      if (dlpPolicy === null) return;
      const policy = dlpPolicy.rules;
      const config = dlpPolicy.scanner;
      const scanner = createScanner(
        options.budget ? config : { ...config, budget: { maxInputChars: Number.MAX_SAFE_INTEGER, maxScanMillis: Number.MAX_SAFE_INTEGER } },
      );
      const result = scanner.scan(input);
      if (result.status === 'budget_exceeded') {
        io.stderr.write(`cordon dlp: input not fully scanned (${result.reason.replace(/_/g, ' ')}); the model route would block it\n`);
        io.setExitCode(DLP_EXIT.findings);
        return;
      }
      const lines = lineStarts(input);
      for (const f of result.findings) {
        const action = resolveAction(policy, f.detector, f.category, options.destination);
        const { line, column } = position(lines, f.start);
        if (options.json === true) {
          io.stdout.write(JSON.stringify(findingRecord(f, action, line, column)) + '\n');
        } else {
          io.stdout.write(`${line}:${column}\t${f.detector}\t${f.category}\tconfidence ${f.confidence.toFixed(2)}\t-> ${action}\n`);
        }
      }
      if (options.json !== true) {
        io.stderr.write(result.findings.length === 0 ? 'no findings\n' : `${result.findings.length} finding(s)\n`);
      }
      io.setExitCode(result.findings.length === 0 ? DLP_EXIT.ok : DLP_EXIT.findings);
    });

  dlp
    .command('redact')
    .description('Print FILE (or stdin) as the policy would send it to a model: redacted, tokenized, or blocked')
    .argument('[file]', 'file to read; "-" or omitted reads stdin')
    .option('--destination <name>', 'model route whose per-destination rules apply', 'default')
    .option('--json-body', 'treat the input as a JSON request body even if it does not look like one')
    .addHelpText('after', EXIT_HELP)
    .action(async (file: string | undefined, options: { destination: string; jsonBody?: boolean }) => {
      const input = await readInput(io, file);
      if (input === null) return;
      const policy = await loadDlpPolicy(io, loadPolicy);
      if (policy === null) return;
      // A throwaway vault: tokens printed here resolve nowhere, which is the point
      // of showing them (this is what the vendor would see).
      const vault = new TokenVault({ ttlMillis: 60_000 });
      // Input that merely starts with '[' or '{' (a log line) is text here, not a malformed request body.
      const filter = createModelRequestFilter({ policy, destination: options.destination, vault, malformedJson: 'text' });
      const decision = filter(options.jsonBody === true ? { body: input, contentType: 'application/json' } : { body: input });
      vault.dispose();
      switch (decision.kind) {
        case 'allow':
          io.stdout.write(input);
          io.setExitCode(DLP_EXIT.ok);
          return;
        case 'rewrite':
          io.stdout.write(decision.body);
          io.setExitCode(DLP_EXIT.ok);
          return;
        case 'deny':
          io.stderr.write(`cordon dlp: ${decision.message}\n`);
          io.setExitCode(DLP_EXIT.findings);
          return;
      }
    });
}

function findingRecord(f: Finding, action: string, line: number, column: number): Record<string, unknown> {
  const record: Record<string, unknown> = { detector: f.detector, category: f.category, start: f.start, end: f.end, confidence: f.confidence, action, line, column };
  // A value found inside a base64 (hex, percent, escaped) run: start/end span the whole run.
  if (f.encoding !== undefined) record['encoding'] = f.encoding;
  return record;
}

async function readInput(io: DlpCommandIo, file: string | undefined): Promise<string | null> {
  let bytes: Uint8Array;
  try {
    bytes = file === undefined || file === '-' ? await readAll(io.stdin) : await io.readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    io.stderr.write(`cordon dlp: cannot read ${file ?? 'stdin'} (${code})\n`);
    io.setExitCode(DLP_EXIT.usage);
    return null;
  }
  // Non-fatal decoding (U+FFFD for bad bytes) and a kept BOM make our indices
  // match what Node's and Python's UTF-8 decoders produce for the same file.
  return new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes);
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk);
  return Buffer.concat(chunks);
}

/** The effective policy's DLP part, compiled; null (after reporting, exit 3) when the policy is invalid. */
async function loadDlpPolicy(io: DlpCommandIo, load: () => PolicyLoadResult | Promise<PolicyLoadResult>): Promise<CompiledDlpPolicy | null> {
  let why: string;
  try {
    const res = await load();
    if (res.ok) return compileDlpPolicy(res.policy.dlp);
    why = `policy is invalid:\n${res.issues.map((i) => `  ${formatPolicyIssue(i)}`).join('\n')}`;
  } catch (e) {
    why = (e as Error).message;
  }
  io.stderr.write(`cordon dlp: DLP policy is invalid: ${why}\n`);
  io.setExitCode(DLP_EXIT.policyInvalid);
  return null;
}

function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return starts;
}

/** 1-based line and column (UTF-16 units) of an index. */
function position(starts: readonly number[], index: number): { line: number; column: number } {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((starts[mid] ?? 0) <= index) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo + 1, column: index - (starts[lo] ?? 0) + 1 };
}
