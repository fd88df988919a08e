import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toDockerCreateOptions } from './container-spec.js';
import type { SandboxSpec } from './sandbox-engine.js';

const spec: SandboxSpec = {
  name: 'cordon-abc',
  image: 'cordon/agent:1',
  entrypoint: null,
  command: ['true'],
  user: '1000:1000',
  runtime: 'runc',
  workdir: '/w',
  env: { A: 'b' },
  mounts: [
    { hostPath: '/w', containerPath: '/w', readOnly: false, kind: 'workspace' },
    { hostPath: '/w/.bashrc', containerPath: '/w/.bashrc', readOnly: true, kind: 'protect' },
  ],
  limits: { memoryBytes: 256 * 1024 * 1024, nanoCpus: 1e9, pids: 128, tmpfsBytes: 64 * 1024 * 1024 },
  seccompProfile: '{"defaultAction":"SCMP_ACT_ALLOW"}',
  apparmorProfile: null,
  homeDir: '/home/agent',
  tty: false,
  labels: { 'dev.cordon.session': 'abc' },
};

test('every container is hardened the same way', () => {
  const o = toDockerCreateOptions(spec);
  const h = o.HostConfig ?? {};
  const sec = (h.SecurityOpt ?? []) as string[];
  assert.deepEqual(h.CapDrop, ['ALL']);
  assert.deepEqual(h.CapAdd, []);
  assert.equal(h.Privileged, false);
  assert.equal(h.ReadonlyRootfs, true);
  assert.equal(h.NetworkMode, 'none');
  assert.equal(h.IpcMode, 'private');
  assert.deepEqual(h.Devices, []);
  assert.ok(sec.includes('no-new-privileges:true'));
  assert.ok(sec.some((s) => s.startsWith('seccomp={')));
  assert.ok(!sec.some((s) => s.startsWith('apparmor=')), 'no AppArmor option where the host has none');
  assert.equal(h.Memory, 256 * 1024 * 1024);
  assert.equal(h.MemorySwap, h.Memory);
  assert.equal(h.PidsLimit, 128);
  assert.equal(h.NanoCpus, 1e9);
  assert.match(h.Tmpfs?.['/tmp'] ?? '', /noexec/);
  assert.match(h.Tmpfs?.['/tmp'] ?? '', /nosuid/);
  assert.match(h.Tmpfs?.['/tmp'] ?? '', /size=67108864/);
  assert.equal(o.User, '1000:1000');
  assert.deepEqual(o.Labels, { 'dev.cordon.session': 'abc' });
  assert.ok(!JSON.stringify(o).includes('docker.sock'));
  assert.deepEqual(
    h.Mounts?.map((m) => [m.Target, m.ReadOnly]),
    [
      ['/w', false],
      ['/w/.bashrc', true],
    ],
  );
});

test('AppArmor is applied where the host has it', () => {
  const o = toDockerCreateOptions({ ...spec, apparmorProfile: 'docker-default', runtime: 'runsc' });
  const sec = (o.HostConfig?.SecurityOpt ?? []) as string[];
  assert.ok(sec.includes('apparmor=docker-default'));
  assert.equal(o.HostConfig?.Runtime, 'runsc');
});
