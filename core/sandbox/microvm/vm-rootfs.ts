import type Docker from 'dockerode';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The microVM's root file system (issue 21; threat V10): the agent image's
 * files, as `docker export` gives them from a container that is created and
 * never started, written into an ext4 image (no journal: it is attached
 * read-only, with a tmpfs overlay in the guest). Cached in Cordon's cache
 * folder under the image's content id, so a rebuilt image (a new id) builds a
 * new one and the old one is deleted; nothing is reused across ids.
 *
 * Ownership: files keep the owners the image gives them. As root that is what
 * tar extracts; otherwise the extraction and mkfs run under `fakeroot`, which
 * must then be installed.
 */
export interface RootImage {
  readonly path: string;
  /** The image's content id (sha256:…), the cache key. */
  readonly imageId: string;
  /** The image's own environment (PATH …), under the profile's. */
  readonly env: readonly string[];
}

export type RootImageResult =
  | { readonly ok: true; readonly value: RootImage; readonly built: boolean }
  | { readonly ok: false; readonly reason: 'image' | 'build'; readonly message: string };

// tar then mkfs in one shell, so one fakeroot session (when not root) sees both.
const BUILD_SCRIPT = [
  'set -eu',
  'tar -x --numeric-owner -f - -C "$1"',
  'kib=$(du -sk "$1" | cut -f1)',
  // Room for the file system's own tables; the image is never written after this.
  'mkfs.ext4 -q -F -L cordon-root -m 0 -O ^has_journal -E root_owner=0:0 -d "$1" "$2" "$((kib + kib / 4 + 65536))k"',
].join('\n');

export function rootImageDir(cacheDir: string): string {
  return join(cacheDir, 'vm', 'rootfs');
}

/** The root image for IMAGE, built now if this image id has none yet. */
export async function ensureRootImage(docker: Docker, image: string, cacheDir: string, euid: number): Promise<RootImageResult> {
  let info: { Id: string; Config?: { Env?: string[] | null } };
  try {
    info = await docker.getImage(image).inspect();
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) {
      return { ok: false, reason: 'image', message: `image ${image} is not in Docker Engine; build it with \`cordon image build\`` };
    }
    return { ok: false, reason: 'build', message: `cannot inspect ${image}: ${(err as Error).message}` };
  }
  const idHex = info.Id.replace(/^sha256:/, '');
  if (!/^[0-9a-f]{64}$/.test(idHex)) return { ok: false, reason: 'build', message: `image ${image} has an unexpected id ${info.Id}` };
  const dir = rootImageDir(cacheDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const final = join(dir, `${idHex}.ext4`);
  const meta = join(dir, `${idHex}.json`);
  const env = info.Config?.Env ?? [];
  if (existsSync(final) && existsSync(meta)) {
    return { ok: true, value: { path: final, imageId: info.Id, env: readEnv(meta) ?? env }, built: false };
  }
  const scratch = mkdtempSync(join(dir, 'build-'));
  const rootDir = join(scratch, 'root');
  mkdirSync(rootDir);
  const out = join(scratch, 'root.ext4');
  let container: Docker.Container | null = null;
  try {
    // Created, never started: export reads its file system as the image gives it.
    container = await docker.createContainer({ Image: image, Entrypoint: ['/nonexistent'], Cmd: [], NetworkDisabled: true, HostConfig: { NetworkMode: 'none' }, Labels: { 'dev.cordon.kind': 'vm-rootfs-export' } });
    const tar = await container.export();
    const built = await runBuild(tar, rootDir, out, euid);
    if (!built.ok) return { ok: false, reason: 'build', message: built.message };
    writeFileSync(meta, JSON.stringify({ image, imageId: info.Id, env }), { mode: 0o600 });
    renameSync(out, final);
    // The image changed: older root images are not used again.
    for (const name of readdirSync(dir)) {
      if (/^[0-9a-f]{64}\.(ext4|json)$/.test(name) && !name.startsWith(idHex)) {
        try {
          unlinkSync(join(dir, name));
        } catch {
          // Another process may have removed it.
        }
      }
    }
    return { ok: true, value: { path: final, imageId: info.Id, env }, built: true };
  } catch (err) {
    return { ok: false, reason: 'build', message: `cannot build the microVM root image from ${image}: ${(err as Error).message}` };
  } finally {
    await container?.remove({ force: true }).catch(() => undefined);
    rmSync(scratch, { recursive: true, force: true });
  }
}

function readEnv(meta: string): string[] | null {
  try {
    const v = JSON.parse(readFileSync(meta, 'utf8')) as { env?: unknown };
    return Array.isArray(v.env) && v.env.every((e) => typeof e === 'string') ? v.env : null;
  } catch {
    return null;
  }
}

function runBuild(tar: NodeJS.ReadableStream, rootDir: string, out: string, euid: number): Promise<{ ok: true } | { ok: false; message: string }> {
  const script = ['-c', BUILD_SCRIPT, 'build', rootDir, out];
  const cmd = euid === 0 ? 'sh' : 'fakeroot';
  const args = euid === 0 ? script : ['--', 'sh', ...script];
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => {
      if (err.length < 4000) err += c.toString('utf8');
    });
    child.on('error', (e) => {
      resolve({ ok: false, message: euid === 0 ? e.message : `fakeroot is needed to build it as a user other than root (apt-get install fakeroot): ${e.message}` });
    });
    child.on('close', (code) => {
      resolve(code === 0 ? { ok: true } : { ok: false, message: `tar/mkfs.ext4 failed (${code}): ${err.trim().slice(0, 500)}` });
    });
    child.stdin.on('error', () => undefined);
    tar.pipe(child.stdin);
  });
}
