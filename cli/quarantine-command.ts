import { CliExit, type CliContext } from './cli-context.js';
import { EXIT } from './exit-codes.js';

/**
 * `cordon quarantine SESSION [--reason TEXT]` (issue 20): the bundle's path
 * alone on stdout (for scripts), what happened and how long it took on
 * stderr. Exit 0 when contained, kept and signed; 1 when contained but the
 * bundle is unsigned or the file system could not be kept (the path is still printed).
 */
export async function quarantineCommand(ctx: CliContext, session: string, opts: { reason?: string; json?: boolean }): Promise<number> {
  // Timed from this process's start: "N ms after the command" includes Cordon's own start-up.
  const issuedAt = Math.round(performance.timeOrigin);
  const res = await ctx.service.quarantine(session, { reason: opts.reason ?? '', by: 'cordon quarantine', issuedAt });
  if (!res.ok) throw new CliExit(res.code === 'not_found' || res.code === 'ambiguous' ? EXIT.usage : EXIT.checkFailed, res.message);
  const complete = res.signed && res.kept !== null;
  if (opts.json) {
    process.stdout.write(JSON.stringify(res) + '\n');
    return complete ? EXIT.ok : EXIT.checkFailed;
  }
  process.stdout.write(`${res.bundle}\n`);
  const t = res.timings;
  const secs = (ms: number | undefined): string => (ms === undefined ? '?' : (ms / 1000).toFixed(2));
  const lines = [
    `session ${res.sessionId} quarantined${res.via === 'engine' ? ` from outside (its host did not answer: ${res.note ?? ''}; no phantom to revoke here, the sandbox was paused)` : ''}`,
    res.via === 'host' ? `phantom revoked and egress closed ${t['revoked_ms'] ?? '?'} ms after the command` : null,
    `sandbox paused ${t['paused_ms'] ?? '?'} ms after the command`,
    `evidence bundle complete in ${secs(t['bundle_ms'])} s${res.signed ? ' (signed)' : ` (UNSIGNED: ${res.unsignedWhy ?? 'no key'})`}`,
    res.kept ? `sandbox stopped at ${secs(t['stopped_ms'])} s; its file system is kept as container ${res.kept.containerId.slice(0, 12)} (image ${res.kept.image}) until \`cordon quarantine release|purge ${res.sessionId}\`` : 'the sandbox\'s file system could not be kept (see the audit log)',
  ];
  for (const l of lines) if (l !== null) process.stderr.write(`${l}\n`);
  return complete ? EXIT.ok : EXIT.checkFailed;
}

/** `cordon quarantine release|purge SESSION`. */
export async function endQuarantineCommand(ctx: CliContext, how: 'release' | 'purge', session: string): Promise<number> {
  const res = await ctx.service.endQuarantine(session, how, `cordon quarantine ${how}`);
  if (!res.ok) throw new CliExit(res.code === 'not_found' || res.code === 'ambiguous' ? EXIT.usage : EXIT.checkFailed, res.message);
  process.stdout.write(`${how === 'release' ? 'released' : 'purged'} ${res.sessionId}: removed ${res.removed.join(', ') || 'nothing'}${how === 'release' ? `; the evidence stays at ${res.bundle}` : ''}\n`);
  return EXIT.ok;
}
