import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';

/**
 * Builds Cordon's default agent image with no image registry: a Debian
 * `debootstrap --variant=minbase` root file system (POSIX shell, coreutils, curl,
 * git, CA certificates) plus Claude Code's self-contained native binary taken
 * from the npm registry, imported into the engine as one layer.
 */

export const DEFAULT_IMAGE = 'cordon/agent:1';
/** Pinned so every machine builds the same agent; bump deliberately. */
export const CLAUDE_CODE_VERSION = '2.1.197';
export const DEBIAN_SUITE = 'bookworm';
const PACKAGES = ['ca-certificates', 'curl', 'git'];

export interface ImageBuildOptions {
  readonly docker: Docker;
  readonly cacheDir: string;
  readonly tag: string;
  readonly mirror: string;
  /** Rebuild the Debian root file system even if a cached one exists. */
  readonly fresh: boolean;
  readonly progress: (line: string) => void;
}

export class ImageBuildError extends Error {
  override readonly name = 'ImageBuildError';
}

export async function buildAgentImage(opts: ImageBuildOptions): Promise<{ tag: string; seconds: number }> {
  const t0 = Date.now();
  const step = (n: number, text: string): void => opts.progress(`[${n}/4] ${text}`);
  if (process.getuid?.() !== 0) throw new ImageBuildError('building the image runs debootstrap, which needs root: run `sudo cordon image build`');
  if (!(await commandExists('debootstrap'))) throw new ImageBuildError('debootstrap is not installed: `sudo apt-get install debootstrap`');

  const cache = join(opts.cacheDir, 'image');
  mkdirSync(cache, { recursive: true, mode: 0o700 });
  const rootfs = join(cache, `rootfs-${DEBIAN_SUITE}`);

  if (opts.fresh || !existsSync(join(rootfs, '.cordon-complete'))) {
    step(1, `debootstrap ${DEBIAN_SUITE} (minbase + ${PACKAGES.join(', ')}) from ${opts.mirror}`);
    const tmp = mkdtempSync(join(cache, 'rootfs-tmp-'));
    await run('debootstrap', ['--variant=minbase', `--include=${PACKAGES.join(',')}`, DEBIAN_SUITE, tmp, opts.mirror], opts.progress);
    // Package caches and lists are dead weight in a read-only image.
    for (const dir of ['var/cache/apt/archives', 'var/lib/apt/lists']) {
      const p = join(tmp, dir);
      if (existsSync(p)) for (const n of readdirSync(p)) if (n !== 'partial' && n !== 'lock') rmSync(join(p, n), { recursive: true, force: true });
    }
    // A named unprivileged user, so tools that look up the uid (git, ssh) work.
    appendFileSync(join(tmp, 'etc/passwd'), 'agent:x:1000:1000:Cordon agent:/home/agent:/bin/sh\n');
    appendFileSync(join(tmp, 'etc/group'), 'agent:x:1000:\n');
    mkdirSync(join(tmp, 'home/agent'), { recursive: true });
    writeFileSync(join(tmp, '.cordon-complete'), new Date().toISOString());
    rmSync(rootfs, { recursive: true, force: true });
    renameSync(tmp, rootfs);
  } else {
    step(1, `reusing cached Debian root file system (${rootfs}; --fresh rebuilds it)`);
  }

  step(2, `fetching Claude Code ${CLAUDE_CODE_VERSION} native binary from the npm registry`);
  const claude = await fetchClaudeBinary(cache, opts.progress);
  const dest = join(rootfs, 'usr/local/bin/claude');
  copyFileSync(claude, dest);
  chmodSync(dest, 0o755);

  step(3, `importing the root file system into Docker Engine as ${opts.tag}`);
  await importRootfs(opts.docker, rootfs, opts.tag);

  step(4, 'checking the image');
  await smokeTest(opts.docker, opts.tag);
  const seconds = (Date.now() - t0) / 1000;
  opts.progress(`built ${opts.tag} in ${seconds.toFixed(1)} s`);
  return { tag: opts.tag, seconds };
}

function npmPlatformPackage(): string {
  const arch = process.arch === 'arm64' ? 'arm64' : process.arch === 'x64' ? 'x64' : null;
  if (process.platform !== 'linux' || arch === null) throw new ImageBuildError(`no Claude Code Linux build for ${process.platform}/${process.arch}`);
  return `@anthropic-ai/claude-code-linux-${arch}`;
}

async function fetchClaudeBinary(cache: string, progress: (l: string) => void): Promise<string> {
  const pkg = npmPlatformPackage();
  const dir = join(cache, `claude-${CLAUDE_CODE_VERSION}`);
  const bin = join(dir, 'package', 'claude');
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  // `npm pack` fetches the tarball without running any install script.
  await run('npm', ['pack', '--silent', `${pkg}@${CLAUDE_CODE_VERSION}`, '--pack-destination', dir], progress);
  const tgz = readdirSync(dir).find((n) => n.endsWith('.tgz'));
  if (!tgz) throw new ImageBuildError(`npm pack ${pkg} produced no tarball`);
  await run('tar', ['-xzf', join(dir, tgz), '-C', dir], progress);
  rmSync(join(dir, tgz));
  if (!existsSync(bin)) throw new ImageBuildError(`${pkg} has no "claude" binary at the expected place`);
  return bin;
}

async function importRootfs(docker: Docker, rootfs: string, tag: string): Promise<void> {
  const [repo, version] = splitTag(tag);
  const tar = spawn('tar', ['--numeric-owner', '--exclude=./.cordon-complete', '-C', rootfs, '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const stream = await docker.importImage(tar.stdout, {
    repo,
    tag: version,
    changes: [
      'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'ENV LANG=C.UTF-8',
      'ENV HOME=/home/agent',
      'USER 1000:1000',
      'WORKDIR /home/agent',
      'CMD ["claude"]',
    ],
  } as unknown as Parameters<Docker['importImage']>[1]);
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve()));
  });
}

async function smokeTest(docker: Docker, tag: string): Promise<void> {
  const container = await docker.createContainer({
    Image: tag,
    Cmd: ['sh', '-c', 'command -v curl git sh ls >/dev/null && test -s /etc/ssl/certs/ca-certificates.crt && claude --version'],
    HostConfig: { NetworkMode: 'none', ReadonlyRootfs: true, CapDrop: ['ALL'], Tmpfs: { '/home/agent': 'rw,size=64m,uid=1000,gid=1000' } },
  });
  try {
    await container.start();
    const res = (await container.wait()) as { StatusCode: number };
    if (res.StatusCode !== 0) throw new ImageBuildError(`image check failed (exit ${res.StatusCode}): the image lacks a shell, curl, git, CA certificates or a working claude binary`);
  } finally {
    await container.remove({ force: true });
  }
}

function splitTag(ref: string): [string, string] {
  const i = ref.lastIndexOf(':');
  return i > ref.lastIndexOf('/') ? [ref.slice(0, i), ref.slice(i + 1)] : [ref, 'latest'];
}

function commandExists(cmd: string): Promise<boolean> {
  return new Promise((resolve) => {
    const p = spawn('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    p.on('exit', (code) => resolve(code === 0));
    p.on('error', () => resolve(false));
  });
}

/** Runs a build tool, passing its output through as progress lines. */
function run(cmd: string, args: string[], progress: (l: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const forward = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') progress(`    ${line.trimEnd()}`);
    };
    p.stdout.on('data', forward);
    p.stderr.on('data', forward);
    p.on('error', (err) => reject(new ImageBuildError(`${cmd} could not run: ${err.message}`)));
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new ImageBuildError(`${cmd} failed with exit code ${String(code)}`))));
  });
}
