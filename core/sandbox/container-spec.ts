import type { ContainerCreateOptions } from 'dockerode';
import type { SandboxSpec } from './sandbox-engine.js';

/**
 * Maps a SandboxSpec to Docker's create options. Pure, so the hardening can be
 * asserted by unit tests line by line, and again against `docker inspect`.
 */
export function toDockerCreateOptions(spec: SandboxSpec): ContainerCreateOptions {
  const securityOpt = ['no-new-privileges:true', `seccomp=${spec.seccompProfile}`];
  if (spec.apparmorProfile !== null) securityOpt.push(`apparmor=${spec.apparmorProfile}`);
  const [uid, gid] = spec.user.split(':');
  const tmpfsSize = Math.max(1, Math.floor(spec.limits.tmpfsBytes));
  return {
    name: spec.name,
    Image: spec.image,
    ...(spec.entrypoint !== null ? { Entrypoint: [...spec.entrypoint] } : {}),
    Cmd: [...spec.command],
    User: spec.user,
    WorkingDir: spec.workdir,
    Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
    Labels: { ...spec.labels },
    Tty: spec.tty,
    OpenStdin: true,
    StdinOnce: true,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    NetworkDisabled: false,
    HostConfig: {
      Runtime: spec.runtime,
      // The agent has no network of its own: only a loopback interface.
      NetworkMode: 'none',
      IpcMode: 'private',
      PidMode: '',
      Privileged: false,
      CapDrop: ['ALL'],
      CapAdd: [],
      SecurityOpt: securityOpt,
      ReadonlyRootfs: true,
      Devices: [],
      // Some PID 1 must forward signals and reap zombies: the relay does when it
      // is the entrypoint, tini otherwise.
      Init: spec.entrypoint === null,
      Memory: spec.limits.memoryBytes,
      // Equal to Memory: no swap beyond the limit.
      MemorySwap: spec.limits.memoryBytes,
      NanoCpus: spec.limits.nanoCpus,
      PidsLimit: spec.limits.pids,
      // Core dumps could carry whatever the agent held in memory.
      Ulimits: [{ Name: 'core', Soft: 0, Hard: 0 }],
      Tmpfs: {
        '/tmp': `rw,noexec,nosuid,nodev,size=${tmpfsSize}`,
        [spec.homeDir]: `rw,noexec,nosuid,nodev,size=${tmpfsSize},uid=${uid ?? ''},gid=${gid ?? ''},mode=0700`,
      },
      Mounts: spec.mounts.map((m) => ({
        Type: 'bind' as const,
        Source: m.hostPath,
        Target: m.containerPath,
        ReadOnly: m.readOnly,
        BindOptions: { Propagation: m.propagation ?? ('rprivate' as const) },
      })),
      // Output goes to the attached CLI only; the engine keeps no copy on disk.
      LogConfig: { Type: 'none', Config: {} },
      // The engine removes the container as soon as it exits, while Cordon tears
      // down the rest (`docker run --rm` does the same); teardown's own remove
      // covers a container that never started.
      AutoRemove: true,
      RestartPolicy: { Name: 'no' },
    },
  };
}
