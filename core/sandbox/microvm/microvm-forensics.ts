import type { SandboxForensics } from '../sandbox-forensics.js';
import { readVmState, stopVm, vmRunRoot, VM_ID_PREFIX, vmProcessState } from './microvm-engine.js';

/**
 * Quarantine's view of a microVM (issue 20 on the tier of issue 21). What a
 * VM allows from the host: freeze it whole (SIGSTOP to QEMU: every vCPU and
 * device stops, so the guest issues nothing more to virtiofsd or the
 * channel), describe it (its state record and QEMU's arguments, which hold
 * no secrets), and stop it. Its file system changes, processes and a kept
 * copy live in guest memory (the overlay, /tmp, the home are tmpfs) and are
 * not reachable without the guest's help: those steps fail with a reason,
 * which the evidence bundle lists as missing.
 */
export class MicroVmForensics implements SandboxForensics {
  private readonly runRoot: string;

  constructor(opts: { readonly cacheDir: string; readonly euid: number }) {
    this.runRoot = vmRunRoot(opts.cacheDir, opts.euid);
  }

  private pidOf(id: string): number {
    const state = id.startsWith(VM_ID_PREFIX) ? readVmState(this.runRoot, id) : null;
    if (!state || vmProcessState(state.pid) === null) throw new Error(`no running microVM ${id}`);
    return state.pid;
  }

  pause(id: string): Promise<void> {
    process.kill(this.pidOf(id), 'SIGSTOP');
    return Promise.resolve();
  }

  inspect(id: string): Promise<unknown> {
    const state = readVmState(this.runRoot, id);
    if (!state) return Promise.reject(new Error(`no microVM ${id}`));
    return Promise.resolve({ ...state, runtime: 'microvm', qemuState: vmProcessState(state.pid) });
  }

  changes(): Promise<ReadonlyArray<{ readonly kind: 'A' | 'C' | 'D'; readonly path: string }>> {
    return Promise.reject(new Error('a microVM keeps its file system changes in guest memory (tmpfs overlay); not readable from the host'));
  }

  processes(): Promise<{ readonly titles: readonly string[]; readonly rows: ReadonlyArray<readonly string[]> }> {
    return Promise.reject(new Error('a microVM\'s processes live in its own kernel; not listable from the host'));
  }

  keep(): Promise<{ readonly containerId: string; readonly imageId: string }> {
    return Promise.reject(new Error('a microVM cannot be kept: its writable layer is guest memory; the workspace changes and this bundle are the evidence'));
  }

  async stop(id: string): Promise<void> {
    await stopVm(this.runRoot, id);
  }

  discard(): Promise<void> {
    return Promise.resolve();
  }

  state(id: string): Promise<string | null> {
    const s = readVmState(this.runRoot, id);
    const p = s ? vmProcessState(s.pid) : null;
    return Promise.resolve(p === null ? null : p === 'T' ? 'paused' : 'running');
  }
}

/** Quarantine's engine calls routed by sandbox id: `vm-…` to the microVM side, the rest to Docker Engine. */
export class TieredForensics implements SandboxForensics {
  constructor(
    private readonly containers: () => SandboxForensics,
    private readonly vms: () => SandboxForensics,
  ) {}

  private pick(id: string): SandboxForensics {
    return id.startsWith(VM_ID_PREFIX) ? this.vms() : this.containers();
  }

  pause(id: string): Promise<void> {
    return this.pick(id).pause(id);
  }

  inspect(id: string): Promise<unknown> {
    return this.pick(id).inspect(id);
  }

  changes(id: string): Promise<ReadonlyArray<{ readonly kind: 'A' | 'C' | 'D'; readonly path: string }>> {
    return this.pick(id).changes(id);
  }

  processes(id: string): Promise<{ readonly titles: readonly string[]; readonly rows: ReadonlyArray<readonly string[]> }> {
    return this.pick(id).processes(id);
  }

  keep(id: string, opts: { readonly tag: string; readonly name: string; readonly labels: Readonly<Record<string, string>> }): Promise<{ readonly containerId: string; readonly imageId: string }> {
    return this.pick(id).keep(id, opts);
  }

  stop(id: string): Promise<void> {
    return this.pick(id).stop(id);
  }

  discard(kept: { readonly containerId: string; readonly image: string }): Promise<void> {
    return this.pick(kept.containerId).discard(kept);
  }

  state(id: string): Promise<string | null> {
    return this.pick(id).state(id);
  }
}
