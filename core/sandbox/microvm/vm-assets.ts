import { accessSync, constants, existsSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What a microVM needs on the host (issue 21), found where scripts/setup.sh
 * puts it: QEMU (Debian's qemu-system-x86), the guest kernel and its modules
 * (scripts/install-vm-kernel.sh), virtiofsd (the system's, or Debian 13's
 * from scripts/install-virtiofsd.sh), and `setpriv` (util-linux), which ties
 * QEMU and virtiofsd to their launcher's life.
 */
export interface VmAssets {
  readonly qemu: string;
  readonly kernel: string;
  /** Folder of the guest's modules with their load order (`order`). */
  readonly modulesDir: string;
  readonly kernelRelease: string;
  readonly virtiofsd: string;
  readonly setpriv: string;
}

export const HOW_TO_INSTALL = 'run scripts/setup.sh from a Cordon checkout (it installs qemu-system-x86, the guest kernel into /opt/cordon/vm-kernel and virtiofsd)';

const QEMU = ['/usr/bin/qemu-system-x86_64', '/usr/local/bin/qemu-system-x86_64'];
// The Rust virtiofsd (Debian 13's path, or ours); QEMU 7.2's own C one in /usr/lib/qemu takes other options and is not used.
const VIRTIOFSD = ['/usr/libexec/virtiofsd', '/opt/cordon/virtiofsd/virtiofsd'];
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'];
export const DEFAULT_KERNEL_DIR = '/opt/cordon/vm-kernel/current';

function firstExecutable(candidates: readonly string[]): string | null {
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  return null;
}

export type AssetsResult = { readonly ok: true; readonly assets: VmAssets } | { readonly ok: false; readonly message: string };

/** The host's microVM parts, or what is missing and how to get it. KERNELDIR overrides /opt/cordon/vm-kernel/current. */
export function findVmAssets(kernelDir: string = DEFAULT_KERNEL_DIR): AssetsResult {
  const qemu = firstExecutable(QEMU);
  if (!qemu) return { ok: false, message: `QEMU (qemu-system-x86_64) is not installed; ${HOW_TO_INSTALL}` };
  const kernel = join(kernelDir, 'vmlinuz');
  const modulesDir = join(kernelDir, 'modules');
  if (!existsSync(kernel) || !existsSync(join(modulesDir, 'order'))) {
    return { ok: false, message: `the microVM guest kernel is missing from ${kernelDir}; ${HOW_TO_INSTALL}` };
  }
  const virtiofsd = firstExecutable(VIRTIOFSD);
  if (!virtiofsd) return { ok: false, message: `virtiofsd is not installed; ${HOW_TO_INSTALL}` };
  const setpriv = firstExecutable(SETPRIV);
  if (!setpriv) return { ok: false, message: 'setpriv (util-linux) is missing; install util-linux' };
  let release: string;
  try {
    release = realpathSync(kernelDir).split('/').pop() ?? 'unknown';
  } catch {
    release = 'unknown';
  }
  return { ok: true, assets: { qemu, kernel, modulesDir, kernelRelease: release, virtiofsd, setpriv } };
}

/** KVM when /dev/kvm can be opened for reading and writing by this process; software emulation (TCG) otherwise. */
export function chooseAccelerator(device = '/dev/kvm'): 'kvm' | 'tcg' {
  try {
    accessSync(device, constants.R_OK | constants.W_OK);
    return 'kvm';
  } catch {
    return 'tcg';
  }
}

/** The host's TSC frequency in kHz from /proc/cpuinfo (a TCG guest's TSC runs at it), or null. */
export function hostTscKhz(cpuinfo?: string): number | null {
  let text = cpuinfo;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      return null;
    }
  }
  const m = /^cpu MHz\s*:\s*([0-9.]+)/m.exec(text);
  const mhz = m ? Number(m[1]) : NaN;
  return Number.isFinite(mhz) && mhz > 100 ? Math.round(mhz * 1000) : null;
}
