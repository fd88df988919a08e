import type Docker from 'dockerode';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join, relative, sep } from 'node:path';
import { ensureHelperBuilt } from '../../egress/helper-build.js';
import { BUILTIN_PROFILE_DIR } from '../../profiles/profile-loader.js';
import {
  EngineUnavailableError,
  type EngineProbe,
  type RunningSandbox,
  type SandboxEngine,
  type SandboxExit,
  type SandboxInfo,
  type SandboxIo,
  type SandboxSpec,
  type Sentinel,
  type StartHooks,
} from '../sandbox-engine.js';
import { ChannelHost, type ChannelTargets } from './vm-channel.js';
import { chooseAccelerator, findVmAssets, hostTscKhz } from './vm-assets.js';
import { ensureBaseInitramfs, sessionArchive, type GuestMount } from './vm-initramfs.js';
import { ensureRootImage } from './vm-rootfs.js';
import { qemuArgs } from './qemu-args.js';

/** Where the session's egress sockets appear in a container; in the guest, cordon-vminit serves sockets of the same names there. */
const SOCKET_DIR = '/run/cordon/egress';
/** Not shared into a VM in this version (live grants need a mount into a running sandbox). */
const GRANTS_DIR = '/run/cordon/grants';
/** Ids of this engine's sandboxes; anything else belongs to another engine. */
export const VM_ID_PREFIX = 'vm-';
const MAX_SOCKET_PATH = 100;

/**
 * SandboxEngine for the microVM tier (issue 21; docs/threat-model-microvm.md):
 * each sandbox is a QEMU `microvm` guest with Debian's cloud kernel, the
 * agent image as a read-only root (vm-rootfs.ts), workspaces over virtiofs,
 * no network device, and one virtio-serial channel (vm-channel.ts) for stdio
 * and the egress proxy. KVM where /dev/kvm is usable, TCG otherwise.
 *
 * A VM's state lives in `<cacheDir>/vm/run/<id>/` (0700): its sockets,
 * initramfs, console log and `state.json` (pid, labels), which `list` and
 * `remove` read, so `cordon ps`, `stop` and the orphan sweep see VMs too.
 * QEMU and virtiofsd die with the process that started them
 * (`setpriv --pdeathsig KILL`).
 */
export class MicroVmEngine implements SandboxEngine {
  readonly name = 'microvm';
  private readonly docker: Docker;
  private readonly cacheDir: string;
  private readonly kernelDir: string | undefined;
  private readonly euid: number;
  private readonly qemuUser: { readonly uid: number; readonly gid: number } | null;

  /**
   * QEMUUSER: who QEMU runs as when Cordon runs as root (threat V2); default
   * the `cordon-vm` system account scripts/setup.sh creates, or null (QEMU
   * stays root, under its seccomp sandbox) where it does not exist. Run by
   * anyone else, QEMU runs as that user.
   */
  constructor(opts: { readonly docker: Docker; readonly cacheDir: string; readonly kernelDir?: string; readonly euid?: number; readonly qemuUser?: { readonly uid: number; readonly gid: number } | null }) {
    this.docker = opts.docker;
    this.cacheDir = opts.cacheDir;
    this.kernelDir = opts.kernelDir;
    this.euid = opts.euid ?? process.geteuid?.() ?? 1000;
    this.qemuUser = opts.qemuUser !== undefined ? opts.qemuUser : this.euid === 0 ? lookupAccount(QEMU_ACCOUNT) : null;
  }

  private get runRoot(): string {
    return vmRunRoot(this.cacheDir, this.euid);
  }

  probe(): Promise<EngineProbe> {
    const found = findVmAssets(this.kernelDir);
    if (!found.ok) return Promise.resolve({ ok: false, message: found.message });
    return Promise.resolve({ ok: true, version: `QEMU microvm, guest kernel ${found.assets.kernelRelease}, ${chooseAccelerator() === 'kvm' ? 'KVM' : 'TCG (software emulation; no usable /dev/kvm)'}`, runtimes: ['microvm'], apparmor: false, seccomp: true });
  }

  async hasImage(ref: string): Promise<boolean> {
    try {
      await this.docker.getImage(ref).inspect();
      return true;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return false;
      throw new EngineUnavailableError(`Docker Engine (which holds the agent image the VM is built from): ${(err as Error).message}`);
    }
  }

  /** The guest kernel is the syscall boundary; AppArmor profiles do not apply. */
  apparmorEnabled(): Promise<boolean> {
    return Promise.resolve(false);
  }

  async start(spec: SandboxSpec, io: SandboxIo, hooks?: StartHooks): Promise<RunningSandbox> {
    const found = findVmAssets(this.kernelDir);
    if (!found.ok) throw new EngineUnavailableError(`this profile runs in a microVM: ${found.message}`, 'runtime');
    const assets = found.assets;
    const vminit = ensureHelperBuilt({ name: 'cordon-vminit', what: 'microVM guest init', sourceDir: join(BUILTIN_PROFILE_DIR, 'vm'), cacheDir: join(this.cacheDir, 'vm', 'init'), mode: 0o755 });
    if (!vminit.ok) throw new EngineUnavailableError(vminit.message, 'runtime');
    const root = await ensureRootImage(this.docker, spec.image, this.cacheDir, this.euid);
    if (!root.ok) throw new EngineUnavailableError(root.message, root.reason === 'image' ? 'image' : 'runtime');
    const base = ensureBaseInitramfs(this.cacheDir, vminit.path, assets.modulesDir);
    const layout = planGuest(spec);
    if (!layout.ok) throw new EngineUnavailableError(`this session cannot run in a microVM: ${layout.message}`, 'runtime');

    const id = `${VM_ID_PREFIX}${randomBytes(6).toString('hex')}`;
    const dir = join(this.runRoot, id);
    mkdirSync(this.runRoot, { recursive: true, mode: 0o711 });
    mkdirSync(dir, { mode: 0o700 });
    const channelSocket = join(dir, 'ch.sock');
    if (join(dir, 'fs00.sock').length > MAX_SOCKET_PATH) {
      rmSync(dir, { recursive: true, force: true });
      throw new EngineUnavailableError(`Cordon's cache folder path is too long for the VM's Unix sockets (${join(dir, 'fs00.sock').length} > ${MAX_SOCKET_PATH} bytes); set CORDON_HOME to a shorter path`, 'runtime');
    }
    const [uid, gid] = spec.user.split(':').map(Number) as [number, number];
    const env = mergeEnv(root.value.env, spec.env);
    const initrd = join(dir, 'initrd');
    const session = sessionArchive(
      {
        uid,
        gid,
        workdir: spec.workdir,
        home: spec.homeDir,
        tty: spec.tty,
        rows: 24,
        cols: 80,
        tmpfsMiB: Math.max(1, Math.round(spec.limits.tmpfsBytes / (1024 * 1024))),
        mounts: layout.mounts,
        argv: [...(spec.entrypoint ?? []), ...spec.command],
        env,
      },
      layout.files,
    );
    writeFileSync(initrd, Buffer.concat([readFileSync(base), session]), { mode: 0o600 });
    // As root, QEMU runs as an unprivileged user: it gets the VM's folder (sockets, initramfs,
    // console log) and the root image as an open descriptor, nothing else of Cordon's.
    const qemuUser = this.qemuUser;
    const handOver = (path: string): void => {
      if (qemuUser) chownSync(path, qemuUser.uid, qemuUser.gid);
    };
    handOver(dir);
    handOver(initrd);

    const accelerator = chooseAccelerator();
    const children: ChildProcess[] = [];
    let server: Server | null = null;
    const cleanup = (): void => {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      server?.close();
      rmSync(dir, { recursive: true, force: true });
    };
    try {
      // One virtiofsd per shared folder, each confined to it (threat V4).
      const fsErrors: (() => string)[] = [];
      const shares = layout.shares.map((s, i) => ({ ...s, socket: join(dir, `fs${String(i).padStart(2, '0')}.sock`) }));
      for (const s of shares) {
        const args = ['--pdeathsig', 'KILL', '--', assets.virtiofsd, `--socket-path=${s.socket}`, `--shared-dir=${s.hostPath}`, '--sandbox=namespace', '--log-level=error', ...(s.readOnly ? ['--readonly'] : [])];
        const child = spawn(assets.setpriv, args, { stdio: ['ignore', 'ignore', 'pipe'] });
        children.push(child);
        fsErrors.push(collect(child));
      }
      // QEMU connects to this as a client when it starts; only its connection is taken.
      const qemuConn = new Promise<Socket>((resolve) => {
        server = createServer({ pauseOnConnect: true }, (sock) => {
          server?.close();
          resolve(sock);
        });
      });
      await new Promise<void>((resolve, reject) => {
        server?.once('error', reject);
        server?.listen(channelSocket, () => resolve());
      });
      chmodSync(channelSocket, 0o600);
      handOver(channelSocket);
      await Promise.all(shares.map((s, i) => waitForSocket(s.socket, children[i] as ChildProcess, 10_000, fsErrors[i] ?? (() => ''))));
      for (const s of shares) handOver(s.socket);
      const consoleLog = join(dir, 'console.log');
      const args = qemuArgs({
        accelerator,
        memoryMiB: Math.max(128, Math.round(spec.limits.memoryBytes / (1024 * 1024))),
        cpus: Math.max(1, Math.ceil(spec.limits.nanoCpus / 1e9)),
        kernel: assets.kernel,
        initrd,
        // QEMU may not be able to open the cache folder: the image comes as descriptor 3 (a QEMU fd set).
        rootImage: '/dev/fdset/1',
        consoleLog,
        channelSocket,
        shares: shares.map((s) => ({ tag: s.tag, socket: s.socket })),
        tscKhz: accelerator === 'tcg' ? hostTscKhz() : null,
      });
      const rootFd = openSync(root.value.path, 'r');
      const drop = qemuUser ? ['--reuid', String(qemuUser.uid), '--regid', String(qemuUser.gid), ...kvmGroup(accelerator), '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs'] : [];
      const qemu = spawn(assets.setpriv, [...drop, '--pdeathsig', 'KILL', '--', assets.qemu, '-add-fd', 'fd=3,set=1,opaque=root-image', ...args], { stdio: ['ignore', 'ignore', 'pipe', rootFd] });
      closeSync(rootFd);
      children.push(qemu);
      const qemuErr = collect(qemu);
      const qemuGone = new Promise<void>((resolve) => qemu.once('close', () => resolve()));
      writeFileSync(join(dir, 'state.json'), JSON.stringify({ id, name: spec.name, pid: qemu.pid, labels: spec.labels, createdAt: new Date().toISOString() }), { mode: 0o600 });
      const hookRun = hooks?.whileStarting ? hooks.whileStarting().then(() => null, (error: unknown) => ({ error })) : Promise.resolve(null);
      const conn = await Promise.race([qemuConn, qemuGone.then(() => null)]);
      const hookFailure = await hookRun;
      if (conn === null) throw new Error(`QEMU exited at start: ${qemuErr().trim() || 'no message'}`);
      if (hookFailure) {
        conn.destroy();
        throw new HookFailed(hookFailure.error);
      }
      const targets: ChannelTargets = { 1: join(layout.socketDir, 'proxy.sock'), 2: join(layout.socketDir, 'lifeline.sock') };
      let exitCode: number | null = null;
      let killed = false;
      const channel = new ChannelHost(conn, targets, io, {
        onExit: (code) => {
          exitCode = code;
        },
        onBroken: () => {
          // A guest that broke the channel's rules (or lost it) gets no more of the session: end it.
          if (exitCode === null && qemu.exitCode === null) qemu.kill('SIGKILL');
        },
      });
      conn.resume();
      const waitDone = qemuGone.then(() => {
        for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
        channel.close();
        if (exitCode !== null) return exitCode;
        // Killed from outside (`cordon stop`, the sweep) ends like a killed container.
        if (qemu.signalCode === 'SIGKILL') killed = true;
        const tail = [qemuErr().trim(), readTail(consoleLog)].filter((t) => t !== '').join('\n');
        if (!killed) io.stderr.write(`cordon: the VM ended without its command's exit status${tail ? `; it said:\n${tail}\n` : '\n'}`);
        return killed ? 137 : 125;
      });
      return {
        id,
        details: { accelerator, guest_kernel: assets.kernelRelease, root_image: root.value.imageId, qemu_user: qemuUser ? String(qemuUser.uid) : String(this.euid) },
        wait: () => waitDone,
        kill: async () => {
          killed = true;
          if (qemu.exitCode === null && qemu.signalCode === null) qemu.kill('SIGKILL');
          await qemuGone;
        },
        resize: (rows, cols) => {
          channel.resize(rows, cols);
          return Promise.resolve();
        },
      };
    } catch (err) {
      cleanup();
      if (err instanceof HookFailed) throw err.original;
      if (err instanceof EngineUnavailableError) throw err;
      throw new EngineUnavailableError(`the microVM did not start: ${(err as Error).message}`, 'runtime');
    }
  }

  list(filter: Readonly<Record<string, string>>): Promise<SandboxInfo[]> {
    return Promise.resolve(this.listNow(filter));
  }

  private listNow(filter: Readonly<Record<string, string>>): SandboxInfo[] {
    const out: SandboxInfo[] = [];
    let names: string[];
    try {
      names = readdirSync(this.runRoot).filter((n) => n.startsWith(VM_ID_PREFIX));
    } catch {
      return [];
    }
    for (const name of names) {
      const state = readVmState(this.runRoot, name);
      if (!state) continue;
      if (!Object.entries(filter).every(([k, v]) => k in state.labels && (v === '' || state.labels[k] === v))) continue;
      const p = vmProcessState(state.pid);
      out.push({ id: state.id, name: state.name, state: p === null ? 'exited' : p === 'T' ? 'paused' : 'running', labels: state.labels, createdAt: new Date(state.createdAt) });
    }
    return out;
  }

  async remove(id: string): Promise<void> {
    if (!isVmId(id)) return;
    await stopVm(this.runRoot, id);
    rmSync(join(this.runRoot, id), { recursive: true, force: true });
  }

  /** The VM's end is not recorded by an engine that outlives it; VMs die with their launcher instead. */
  lastExit(): Promise<SandboxExit | null> {
    return Promise.resolve(null);
  }

  /** Not needed: QEMU and virtiofsd carry PR_SET_PDEATHSIG, so the kernel ends them with their launcher. */
  armSentinel(): Promise<Sentinel | null> {
    return Promise.resolve(null);
  }
}

/** The system account QEMU runs as when Cordon runs as root (scripts/setup.sh creates it). */
export const QEMU_ACCOUNT = 'cordon-vm';

/**
 * Where a VM's runtime folder lives. As root: under /run/cordon-vm (0711, one
 * folder per Cordon cache), so the unprivileged QEMU can reach its own VM's
 * folder without being able to enter Cordon's home (often under /root, 0700);
 * otherwise in the cache folder.
 */
export function vmRunRoot(cacheDir: string, euid: number): string {
  if (euid !== 0) return join(cacheDir, 'vm', 'run');
  return join('/run/cordon-vm', createHash('sha256').update(cacheDir).digest('hex').slice(0, 12));
}

/** The account QEMU runs as when Cordon runs as root, or null where it does not exist. */
export function qemuAccount(): { uid: number; gid: number } | null {
  return lookupAccount(QEMU_ACCOUNT);
}

/** uid and gid of ACCOUNT from /etc/passwd, or null. */
function lookupAccount(account: string): { uid: number; gid: number } | null {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f[0] === account && Number(f[2]) > 0 && Number(f[3]) > 0) return { uid: Number(f[2]), gid: Number(f[3]) };
    }
  } catch {
    // No passwd file: QEMU stays this process's user.
  }
  return null;
}

/** setpriv's group options: none but /dev/kvm's group when KVM is used, so the dropped QEMU can open it. */
function kvmGroup(accelerator: 'kvm' | 'tcg'): string[] {
  if (accelerator !== 'kvm') return ['--clear-groups'];
  try {
    return ['--groups', String(statSync('/dev/kvm').gid)];
  } catch {
    return ['--clear-groups'];
  }
}

class HookFailed extends Error {
  constructor(readonly original: unknown) {
    super('the start hook failed');
  }
}

type GuestLayout =
  | {
      readonly ok: true;
      readonly shares: readonly { readonly tag: string; readonly hostPath: string; readonly readOnly: boolean }[];
      readonly mounts: readonly GuestMount[];
      readonly files: readonly { readonly hostPath: string; readonly guestPath: string }[];
      /** The host folder of the session's proxy and lifeline sockets. */
      readonly socketDir: string;
    }
  | { readonly ok: false; readonly message: string };

/**
 * How the container-shaped mount plan maps onto a guest: each workspace is a
 * virtiofs share; each protection and anchor mount is a bind mount in the
 * guest of the same path inside its workspace (it must lie inside one);
 * Cordon's own files are copied into the guest's /run; the egress socket
 * folder becomes the channel's targets. Pure.
 */
export function planGuest(spec: Pick<SandboxSpec, 'mounts'>): GuestLayout {
  const shares: { tag: string; hostPath: string; containerPath: string; readOnly: boolean }[] = [];
  const mounts: GuestMount[] = [];
  const files: { hostPath: string; guestPath: string }[] = [];
  let socketDir: string | null = null;
  for (const m of spec.mounts) {
    if (m.kind === 'workspace') {
      const tag = `ws${shares.length}`;
      shares.push({ tag, hostPath: m.hostPath, containerPath: m.containerPath, readOnly: m.readOnly });
      mounts.push({ kind: 'virtiofs', tag, target: m.containerPath, readOnly: m.readOnly });
    } else if (m.kind === 'cordon') {
      if (m.containerPath === SOCKET_DIR) socketDir = m.hostPath;
      else if (m.containerPath === GRANTS_DIR) continue;
      else files.push({ hostPath: m.hostPath, guestPath: m.containerPath });
    } else {
      const owner = [...shares].reverse().find((s) => m.hostPath === s.hostPath || m.hostPath.startsWith(s.hostPath + sep));
      if (!owner) return { ok: false, message: `${m.kind} mount ${m.hostPath} is not inside a workspace shared into the VM` };
      const source = join(owner.containerPath, relative(owner.hostPath, m.hostPath));
      mounts.push({ kind: 'bind', source, target: m.containerPath, readOnly: m.readOnly });
    }
  }
  if (socketDir === null) return { ok: false, message: 'the session has no egress socket folder' };
  return { ok: true, shares: shares.map(({ tag, hostPath, readOnly }) => ({ tag, hostPath, readOnly })), mounts, files, socketDir };
}

/** The image's environment under the session's (the session's wins, as in a container). */
function mergeEnv(imageEnv: readonly string[], env: Readonly<Record<string, string>>): string[] {
  const merged = new Map<string, string>();
  for (const e of imageEnv) {
    const i = e.indexOf('=');
    if (i > 0) merged.set(e.slice(0, i), e.slice(i + 1));
  }
  for (const [k, v] of Object.entries(env)) merged.set(k, v);
  return [...merged].map(([k, v]) => `${k}=${v}`);
}

function isVmId(id: string): boolean {
  return /^vm-[0-9a-f]{12}$/.test(id);
}

/** Kills VM ID's QEMU (a stopped one too) and waits, bounded, until it is gone; its folder stays. */
export async function stopVm(runRoot: string, id: string): Promise<void> {
  const state = isVmId(id) ? readVmState(runRoot, id) : null;
  if (!state || vmProcessState(state.pid) === null) return;
  try {
    process.kill(state.pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
  for (let i = 0; i < 100 && vmProcessState(state.pid) !== null; i++) await new Promise((r) => setTimeout(r, 20));
}

/** VM ID's state record in RUNROOT, or null. */
export function readVmState(runRoot: string, id: string): VmState | null {
  return isVmId(id) ? readState(join(runRoot, id)) : null;
}

export interface VmState {
  readonly id: string;
  readonly name: string;
  readonly pid: number;
  readonly labels: Record<string, string>;
  readonly createdAt: string;
}

function readState(dir: string): VmState | null {
  try {
    const v = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as Partial<VmState>;
    if (typeof v.id !== 'string' || typeof v.pid !== 'number' || typeof v.labels !== 'object' || v.labels === null) return null;
    return { id: v.id, name: typeof v.name === 'string' ? v.name : v.id, pid: v.pid, labels: v.labels, createdAt: typeof v.createdAt === 'string' ? v.createdAt : new Date(0).toISOString() };
  } catch {
    return null;
  }
}

/**
 * The kernel's state letter of PID (R, S, T for stopped …) if it is a live
 * QEMU, or null (gone, a zombie, or a recycled pid of something else).
 */
export function vmProcessState(pid: number): string | null {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return cmd.includes('qemu-system') && state !== 'Z' ? state : null;
  } catch {
    return null;
  }
}

/** Keeps the last few KiB a child wrote on stderr, for error messages. */
function collect(child: ChildProcess): () => string {
  let text = '';
  child.stderr?.on('data', (c: Buffer) => {
    text = (text + c.toString('utf8')).slice(-4000);
  });
  return () => text;
}

function waitForSocket(path: string, child: ChildProcess, ms: number, stderr: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (existsSync(path)) return resolve();
      if (child.exitCode !== null || child.signalCode !== null) return reject(new Error(`virtiofsd exited before it served ${path}: ${stderr().trim() || 'no message'}`));
      if (Date.now() > deadline) return reject(new Error(`virtiofsd did not serve ${path} within ${ms} ms`));
      setTimeout(tick, 10);
    };
    tick();
  });
}

function readTail(path: string): string {
  try {
    return readFileSync(path, 'utf8').slice(-2000).trim();
  } catch {
    return '';
  }
}
