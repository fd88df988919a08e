/**
 * QEMU's argv for one Cordon microVM (issue 21), as a pure function so a test
 * can hold it to the threat model (docs/threat-model-microvm.md, V1/V2/V8/V11):
 * no network device of any kind, no firmware, no monitor, QEMU's seccomp
 * sandbox on, the root image read-only, and nothing secret (the session's
 * environment travels in the initramfs, never here).
 */
export interface QemuPlan {
  /** `kvm` where /dev/kvm is usable, else `tcg` (software emulation). */
  readonly accelerator: 'kvm' | 'tcg';
  readonly memoryMiB: number;
  readonly cpus: number;
  readonly kernel: string;
  readonly initrd: string;
  readonly rootImage: string;
  /** Where the guest's kernel and init messages go (a file in the VM's private folder). */
  readonly consoleLog: string;
  /** The Unix socket this process serves for the guest's one channel. */
  readonly channelSocket: string;
  /** One virtiofsd socket per shared folder, with the tag the guest mounts it by. */
  readonly shares: readonly { readonly tag: string; readonly socket: string }[];
  /** Host TSC frequency in kHz for a TCG guest (its TSC is the host's; calibration fails under load), or null. */
  readonly tscKhz: number | null;
}

export const CHANNEL_PORT_NAME = 'cordon.channel';

export function qemuArgs(p: QemuPlan): string[] {
  const cmdline = ['console=ttyS0', 'quiet', 'loglevel=3', 'reboot=t', 'panic=-1', 'pci=off', 'rdinit=/init'];
  if (p.accelerator === 'tcg' && p.tscKhz !== null) cmdline.push(`tsc_early_khz=${Math.round(p.tscKhz)}`);
  const args = [
    '-machine', 'microvm,x-option-roms=off,isa-serial=on,memory-backend=mem',
    '-accel', p.accelerator,
    '-cpu', p.accelerator === 'kvm' ? 'host' : 'max',
    '-m', `${p.memoryMiB}M`,
    '-smp', String(p.cpus),
    // Shared memory: vhost-user-fs (virtiofsd) maps the guest's RAM.
    '-object', `memory-backend-memfd,id=mem,size=${p.memoryMiB}M,share=on`,
    '-nodefaults',
    '-no-user-config',
    '-nic', 'none',
    '-display', 'none',
    '-monitor', 'none',
    '-no-reboot',
    '-sandbox', 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny',
    '-kernel', p.kernel,
    '-initrd', p.initrd,
    '-append', cmdline.join(' '),
    '-serial', `file:${p.consoleLog}`,
    '-drive', `file=${p.rootImage},format=raw,if=none,id=root,readonly=on`,
    '-device', 'virtio-blk-device,drive=root',
    '-device', 'virtio-serial-device,max_ports=2',
    '-chardev', `socket,id=channel,path=${p.channelSocket}`,
    '-device', `virtserialport,chardev=channel,name=${CHANNEL_PORT_NAME}`,
  ];
  p.shares.forEach((s, i) => {
    args.push('-chardev', `socket,id=fs${i},path=${s.socket}`, '-device', `vhost-user-fs-device,chardev=fs${i},tag=${s.tag}`);
  });
  return args;
}
