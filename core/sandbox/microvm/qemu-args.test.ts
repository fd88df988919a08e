/**
 * QEMU's argv held to the threat model (docs/threat-model-microvm.md V1, V2,
 * V8, V11): no network device, the seccomp sandbox on, no firmware or
 * monitor, the root image read-only, limits from the profile, nothing secret.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { qemuArgs, type QemuPlan } from './qemu-args.js';
import { hostTscKhz } from './vm-assets.js';

const plan: QemuPlan = {
  accelerator: 'tcg',
  memoryMiB: 768,
  cpus: 2,
  kernel: '/k/vmlinuz',
  initrd: '/run/vm-1/initrd',
  rootImage: '/cache/root.ext4',
  consoleLog: '/run/vm-1/console.log',
  channelSocket: '/run/vm-1/ch.sock',
  shares: [
    { tag: 'ws0', socket: '/run/vm-1/fs00.sock' },
    { tag: 'ws1', socket: '/run/vm-1/fs01.sock' },
  ],
  tscKhz: 2096015,
};

const valueOf = (args: string[], flag: string): string[] => args.flatMap((a, i) => (a === flag ? [args[i + 1] ?? ''] : []));

test('no network device of any kind, and no defaults that could add one', () => {
  const args = qemuArgs(plan);
  assert.ok(args.includes('-nodefaults'));
  assert.deepEqual(valueOf(args, '-nic'), ['none']);
  assert.ok(!args.includes('-netdev') && !args.includes('-net'));
  for (const d of valueOf(args, '-device')) assert.ok(!/net|e1000|rtl8139|vsock|usb|pci/.test(d), d);
});

test('QEMU runs under its seccomp sandbox, without firmware, monitor or user config; the root image is read-only', () => {
  const args = qemuArgs(plan);
  assert.deepEqual(valueOf(args, '-sandbox'), ['on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny']);
  assert.ok(args.includes('-no-user-config'));
  assert.deepEqual(valueOf(args, '-monitor'), ['none']);
  assert.ok(!args.includes('-bios') && !args.includes('-pflash'));
  assert.match(valueOf(args, '-machine')[0] ?? '', /^microvm,x-option-roms=off/);
  assert.deepEqual(valueOf(args, '-drive'), ['file=/cache/root.ext4,format=raw,if=none,id=root,readonly=on']);
  assert.ok(args.includes('-no-reboot'), 'the guest powering off must end QEMU');
});

test('memory and CPUs come from the plan; each share has its own vhost-user-fs device; one channel port', () => {
  const args = qemuArgs(plan);
  assert.deepEqual(valueOf(args, '-m'), ['768M']);
  assert.deepEqual(valueOf(args, '-smp'), ['2']);
  assert.ok(valueOf(args, '-object').includes('memory-backend-memfd,id=mem,size=768M,share=on'));
  assert.deepEqual(
    valueOf(args, '-device').filter((d) => d.startsWith('vhost-user-fs-device')),
    ['vhost-user-fs-device,chardev=fs0,tag=ws0', 'vhost-user-fs-device,chardev=fs1,tag=ws1'],
  );
  assert.deepEqual(valueOf(args, '-device').filter((d) => d.startsWith('virtserialport')), ['virtserialport,chardev=channel,name=cordon.channel']);
});

test('TCG gets the host TSC frequency on the kernel command line; KVM gets the host CPU and no TSC hint', () => {
  assert.match(valueOf(qemuArgs(plan), '-append')[0] ?? '', /tsc_early_khz=2096015/);
  const kvm = qemuArgs({ ...plan, accelerator: 'kvm' });
  assert.deepEqual(valueOf(kvm, '-accel'), ['kvm']);
  assert.deepEqual(valueOf(kvm, '-cpu'), ['host']);
  assert.ok(!(valueOf(kvm, '-append')[0] ?? '').includes('tsc_early_khz'));
  assert.equal(hostTscKhz('processor : 0\ncpu MHz\t\t: 2096.015\n'), 2096015);
  assert.equal(hostTscKhz('no such line'), null);
});

test('the kernel command line holds only fixed words: the session travels in the initramfs', () => {
  const cmdline = valueOf(qemuArgs(plan), '-append')[0] ?? '';
  for (const word of cmdline.split(' ')) assert.match(word, /^(console=ttyS0|quiet|loglevel=3|reboot=t|panic=-1|pci=off|rdinit=\/init|tsc_early_khz=\d+)$/);
});
