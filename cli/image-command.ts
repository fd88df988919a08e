import { buildAgentImage, ImageBuildError } from '../core/image/image-build.js';
import { CliExit, type CliContext } from './cli-context.js';
import { EXIT } from './exit-codes.js';

export async function imageBuild(ctx: CliContext, opts: { tag: string; mirror: string; fresh?: boolean }): Promise<number> {
  const probe = await ctx.engine.probe();
  if (!probe.ok) throw new CliExit(EXIT.engineUnavailable, probe.message);
  try {
    await buildAgentImage({
      docker: ctx.engine.client,
      cacheDir: ctx.paths.cacheDir,
      tag: opts.tag,
      mirror: opts.mirror,
      fresh: opts.fresh === true,
      progress: (line) => process.stdout.write(`${line}\n`),
    });
    return EXIT.ok;
  } catch (err) {
    if (err instanceof ImageBuildError) throw new CliExit(EXIT.checkFailed, err.message);
    throw err;
  }
}
