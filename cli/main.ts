import { readFile } from 'node:fs/promises';
import { Command, CommanderError, Option } from 'commander';
import type { CliContext } from './cli-context.js';
import { CliExit, productVersion } from './cli-exit.js';
import { EXIT, EXIT_CODE_HELP } from './exit-codes.js';
import { registerCaCommands } from './ca-command.js';
import { registerKeysCommands } from './keys-command.js';
import { lazyKeyringStore } from '../core/keys/lazy-keyring-store.js';

/**
 * The `cordon` command. Each action imports what it needs when it runs, so
 * `cordon --version` and `--help` start without loading the engine client.
 * Returns the process exit code.
 */
export async function runCli(argv: readonly string[]): Promise<number> {
  const program = new Command();
  let exitCode: number = EXIT.ok;
  // The context (policy, audit log, engine client) loads on first use, so
  // --version and --help never pay for zod or the Docker client.
  let context: CliContext | undefined;
  const getContext = async (): Promise<CliContext> => {
    if (!context) context = new (await import('./cli-context.js')).CliContext();
    return context;
  };
  const act =
    <A extends unknown[]>(fn: (ctx: CliContext, ...args: A) => Promise<number> | number) =>
    async (...args: A): Promise<void> => {
      exitCode = await fn(await getContext(), ...args);
    };

  program
    .name('cordon')
    .description('Run an AI agent in a hardened sandbox and control everything that crosses its wall.')
    .version(productVersion(), '-V, --version')
    .enablePositionalOptions()
    .showHelpAfterError()
    .addHelpText('after', EXIT_CODE_HELP)
    .exitOverride();

  program
    .command('doctor')
    .description('Check that a launch would work: Docker Engine, runtimes, image, profile, policy. One line per check with a fix.')
    .option('--json', 'print the checks as JSON')
    .action(act(async (ctx, opts: { json?: boolean }) => (await import('./doctor-command.js')).doctorCommand(ctx, opts)));

  program
    .command('exec')
    .description('Run CMD once in a fresh sandbox under the full policy; stdout and stderr stream separately; exit code is CMD\'s.')
    .addOption(new Option('-p, --profile <name>', 'sandbox profile (default: policy sandbox.profile, else "standard")'))
    .option('-w, --workspace <dir[:ro|:rw]>', 'mount a folder at the same path (repeatable; read-write unless :ro)', collect, [])
    .option('-e, --env <K=V>', 'set an environment variable in the sandbox (repeatable)', collect, [])
    .argument('<cmd...>', 'command and arguments (put them after --)')
    .passThroughOptions()
    .addHelpText('after', '\nExample:\n  cordon exec --workspace ~/project -- git status\n' + EXIT_CODE_HELP)
    .action(
      act(async (ctx, cmd: string[], opts: { profile?: string; workspace: string[]; env: string[] }) =>
        (await import('./session-commands.js')).execCommand(ctx, cmd, opts),
      ),
    );

  program
    .command('launch')
    .description('Start the agent interactively (with a TTY) in a sandbox: the main job.')
    .addOption(new Option('-p, --profile <name>', 'sandbox profile (default: policy sandbox.profile, else "standard")'))
    .option('-w, --workspace <dir[:ro|:rw]>', 'mount a folder at the same path (repeatable; read-write unless :ro)', collect, [])
    .option('-e, --env <K=V>', 'set an environment variable in the sandbox (repeatable)', collect, [])
    .option('--chat', 'talk with the agent as a conversation instead of its terminal UI; with stdin not a terminal, one turn per line, ending after the last answer')
    .addHelpText('after', EXIT_CODE_HELP)
    .action(
      act(async (ctx, opts: { profile?: string; workspace: string[]; env: string[]; chat?: boolean }) =>
        opts.chat ? (await import('./chat-command.js')).launchChatCommand(ctx, opts) : (await import('./session-commands.js')).launchCommand(ctx, opts),
      ),
    );

  program
    .command('demo')
    .description('A guided run on a demo workspace: starts a real sandbox and shows, step by step, what Cordon allows and stops. Needs no API key.')
    .addOption(new Option('-p, --profile <name>', 'sandbox profile to demonstrate'))
    .action(act(async (ctx, opts: { profile?: string }) => (await import('./demo-command.js')).demo(ctx, opts)));

  program
    .command('ps')
    .description('List running sessions.')
    .option('--json', 'print sessions as JSON')
    .action(act(async (ctx, opts: { json?: boolean }) => (await import('./session-commands.js')).psCommand(ctx, opts)));

  program
    .command('stop')
    .description('Stop a session (its id or a unique prefix), or every session with --all.')
    .argument('[session]', 'session id')
    .option('--all', 'stop every session')
    .action(act(async (ctx, id: string | undefined, opts: { all?: boolean }) => (await import('./session-commands.js')).stopCommand(ctx, id, opts)));

  program
    .command('drop')
    .description(`Copy files into a running session's inbox (<first writable workspace>/cordon-inbox/) through the gate: credential stores refused, secrets redacted per gates.dragDrop.toSandbox. Exit 1 if any file is refused.`)
    .argument('<session>', 'session id or a unique prefix')
    .argument('<files...>', 'host files to copy in')
    .action(act(async (ctx, session: string, files: string[]) => (await import('./transfer-commands.js')).dropCommand(ctx, session, files)));

  program
    .command('take')
    .description('Copy a file out of a running session (its path as the sandbox sees it, or relative to its first workspace) to DEST (default: this folder) through the gate (gates.dragDrop.fromSandbox). Exit 1 if refused.')
    .argument('<session>', 'session id or a unique prefix')
    .argument('<path>', 'file inside a workspace of the session')
    .argument('[dest]', 'host file or folder to write to (default: the current folder)')
    .option('--force', 'replace DEST if it exists')
    .action(act(async (ctx, session: string, path: string, dest: string | undefined, opts: { force?: boolean }) => (await import('./transfer-commands.js')).takeCommand(ctx, session, path, dest, opts)));

  program
    .command('ui')
    .description('Serve the Cordon app to your browser on 127.0.0.1 behind a one-time token; prints the URL and runs until Ctrl-C.')
    .option('--port <n>', 'port on 127.0.0.1 (default: any free port)')
    .option('--open', 'open the URL in your default browser')
    .action(async (opts: { port?: string; open?: boolean }) => {
      // The context loads after the URL is printed (see uiCommand), not before the action as act() does.
      exitCode = await (await import('./ui-command.js')).uiCommand(getContext, opts);
    });

  const image = program.command('image').description('Manage the agent image.');
  image
    .command('build')
    .description('Build the default agent image locally (Debian minbase + curl, git, CA certificates + Claude Code); no registry needed.')
    .option('--tag <ref>', 'image reference to create', 'cordon/agent:1')
    .option('--mirror <url>', 'Debian mirror', process.env['CORDON_DEBIAN_MIRROR'] ?? 'http://deb.debian.org/debian')
    .option('--fresh', 'rebuild the Debian root file system instead of reusing the cached one')
    .action(act(async (ctx, opts: { tag: string; mirror: string; fresh?: boolean }) => (await import('./image-command.js')).imageBuild(ctx, opts)));

  const audit = program.command('audit').description('Read and check the audit log.');
  audit
    .command('verify')
    .description('Check the hash chain of the audit log; exit 1 naming the first bad line if anything was edited, removed or reordered.')
    .option('--dir <dir>', 'audit folder (default: $CORDON_HOME/audit)')
    .option('--json', 'print the result as JSON')
    .action(act(async (ctx, opts: { dir?: string; json?: boolean }) => (await import('./audit-command.js')).auditVerify(ctx, opts)));

  // `quarantine SESSION` and `quarantine release|purge SESSION` share one command: a session id is hex, never those words.
  program
    .command('quarantine')
    .description('Quarantine a running session: revoke its key, close its egress, pause it, write a signed evidence bundle (its path on stdout), then stop it and keep its file system. `quarantine release|purge SESSION` ends a quarantine.')
    .argument('<session-or-action>', 'session id (or a unique prefix), or "release" / "purge"')
    .argument('[session]', 'with release or purge: the quarantined session')
    .option('--reason <text>', 'why (kept in the audit log and the bundle)')
    .option('--json', 'print the outcome as JSON')
    .action(
      act(async (ctx, first: string, second: string | undefined, opts: { reason?: string; json?: boolean }) => {
        const q = await import('./quarantine-command.js');
        if (first === 'release' || first === 'purge') {
          if (second === undefined) throw new CliExit(EXIT.usage, `quarantine ${first} needs a session id`);
          return q.endQuarantineCommand(ctx, first, second);
        }
        if (second !== undefined) throw new CliExit(EXIT.usage, 'quarantine takes one session id (use --reason for the reason)');
        return q.quarantineCommand(ctx, first, opts);
      }),
    );

  audit
    .command('export')
    .description('Print audit records on stdout, one a line, each keeping its OCSF class, seq and hash (for a one-off import into a SIEM); with --follow, deliver to the policy\'s audit.export destinations until stopped.')
    .option('--since <seq>', 'only records after this seq (default: all)')
    .option('--format <format>', 'ocsf-json (the log\'s own lines; the default), syslog (RFC 5424) or cef (ArcSight CEF)')
    .option('--follow', 'keep delivering to the audit.export destinations in policy, from their cursors, until Ctrl-C or SIGTERM (where the app or `cordon ui` does not run); one process delivers at a time, another waits')
    .action(act(async (ctx, opts: { since?: string; format?: string; follow?: boolean }) => (await import('./audit-command.js')).auditExport(ctx, opts)));

  const policy = program.command('policy').description('Show and check policy.');
  policy
    .command('show')
    .description('Print the effective policy and the sources it came from.')
    .option('--json', 'print as JSON')
    .action(act(async (ctx, opts: { json?: boolean }) => (await import('./policy-command.js')).policyShow(ctx, opts)));
  policy
    .command('validate')
    .description('Check one policy file; exit 1 listing every error with its path.')
    .argument('<file>')
    .action(act(async (_ctx, file: string) => (await import('./policy-command.js')).policyValidate(file)));
  policy
    .command('set')
    .description('Change one of your own settings (a dotted path, e.g. egress.mode report). Refused for fields that managed policy locks.')
    .argument('<path>')
    .argument('<value>', 'JSON value, or a bare word for a string')
    .action(act(async (ctx, path: string, value: string) => (await import('./policy-command.js')).policySet(ctx, path, value)));
  policy
    .command('sign')
    .description('Sign a policy file as a bundle for managed deployment: writes POLICY.bundle.json and its .sig (Ed25519).')
    .argument('<policy>', 'policy JSON file')
    .requiredOption('--key <file>', 'Ed25519 private key (PEM)')
    .requiredOption('--serial <n>', 'bundle serial; must increase with every release (anti-rollback)')
    .option('--valid-for <duration>', 'lifetime, e.g. 90d or 12h', '90d')
    .option('--issued-at <iso>', 'issue time (default: now)')
    .action(
      act(async (_ctx, file: string, opts: { key: string; serial: string; validFor?: string; issuedAt?: string }) => (await import('./policy-command.js')).policySign(file, opts)),
    );
  policy
    .command('schema')
    .description('Print the JSON Schema of the policy file.')
    .action(act(async () => (await import('./policy-command.js')).policySchema()));

  const approvals = program.command('approvals').description('Answer what running sessions ask for (a folder, a new network destination …): list, allow, deny, grant, or watch and answer one key at a time.');
  approvals
    .command('list')
    .description('Pending requests (oldest first), then those settled in the last hour.')
    .option('--json', 'print an array of requests as JSON')
    .action(act(async (ctx, opts: { json?: boolean }) => (await import('./approvals-command.js')).approvalsList(ctx, opts)));
  approvals
    .command('allow')
    .description('Allow request ID: once (default), --for a while, or --always.')
    .argument('<id>', 'request id (from `cordon approvals list`)')
    .option('--for <duration>', 'allow for 30m, 1h, 2h30m, or "today" (until the end of the local day)')
    .option('--always', 'allow from now on (recorded as "always")')
    .option('--write', 'also grant write access, when the request asked for it')
    .option('--session-wide', "give the same answer to every other pending request of the request's session")
    .action(
      act(async (ctx, id: string, opts: { for?: string; always?: boolean; write?: boolean; sessionWide?: boolean }) =>
        (await import('./approvals-command.js')).approvalsAllow(ctx, id, opts),
      ),
    );
  approvals
    .command('deny')
    .description('Deny request ID.')
    .argument('<id>', 'request id (from `cordon approvals list`)')
    .option('--session-wide', "also deny every other pending request of the request's session")
    .action(act(async (ctx, id: string, opts: { sessionWide?: boolean }) => (await import('./approvals-command.js')).approvalsDeny(ctx, id, opts)));
  approvals
    .command('grant')
    .description('Make a host folder reachable in a running session without its agent asking; prints where it appears inside.')
    .argument('<session>', 'session id or a unique prefix (from `cordon ps`)')
    .argument('<path>', 'the host folder')
    .option('--write', 'read-write (default read-only); write-protected paths inside stay read-only')
    .option('--for <duration>', 'until 30m, 1h, 2h30m, or "today" from now (default: until the session ends)')
    .action(
      act(async (ctx, session: string, path: string, opts: { for?: string; write?: boolean }) => (await import('./approvals-command.js')).approvalsGrant(ctx, session, path, opts)),
    );
  approvals
    .command('watch')
    .description('In a terminal: show each pending request and answer it with one key (d deny, o once, w once with write, h hour, t today, a always, q quit).')
    .action(act(async (ctx) => (await import('./approvals-command.js')).approvalsWatch(ctx)));

  // keys set|rotate|remove|status: the real key goes to the OS keychain, never argv.
  registerKeysCommands(program, lazyKeyringStore);
  registerCaCommands(program, async () => (await getContext()).paths.home, (code) => (exitCode = code));

  // The DLP engine and the policy loader cost ~80 ms to load: only `cordon dlp`
  // pays for them; other commands list a stub so help still shows the group.
  if (argv[2] === 'dlp') {
    const { registerDlpCommands } = await import('./dlp-command.js');
    // The same loader as every other command (CliContext.loadPolicy).
    registerDlpCommands(program, async () => (await getContext()).loadPolicy(), {
      stdin: process.stdin,
      stdout: process.stdout,
      stderr: process.stderr,
      setExitCode: (code: number) => {
        exitCode = code;
      },
      // A static import: `import()` cannot run in the single-file bundle, which
      // bin/cordon-loader.cjs compiles from a V8 code cache (see scripts/bundle.mjs).
      readFile: (path: string) => readFile(path),
    });
  } else {
    program.command('dlp').description('Scan or redact text with the DLP policy applied to model requests (`cordon dlp --help`)');
  }

  const profile = program.command('profile').description('Sandbox profiles.');
  profile
    .command('schema')
    .description('Print the JSON Schema of sandbox profiles.')
    .action(act(async () => (await import('./policy-command.js')).profileSchema()));

  let commandName = '';
  program.hook('preAction', async (_this, actionCommand) => {
    // Clean up after launchers that died, before anything else runs.
    const name = actionCommand.name();
    commandName = name;
    // `ui` reaps once its URL is out (it loads the context later, on purpose).
    if (!['schema', 'validate', 'sign', 'ui'].includes(name)) await (await getContext()).reap(false);
  });

  try {
    await program.parseAsync([...argv]);
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT.ok;
      return EXIT.usage;
    }
    if (err instanceof CliExit) {
      process.stderr.write(`cordon: ${err.message}\n`);
      return err.code;
    }
    process.stderr.write(`cordon: unexpected error: ${(err as Error).message}\n`);
    // exec/launch/demo must not answer with a code their command could have returned.
    return ['exec', 'launch', 'demo'].includes(commandName) ? EXIT.sandboxNotStarted : EXIT.checkFailed;
  }
}

function collect(value: string, prev: string[]): string[] {
  return [...prev, value];
}
