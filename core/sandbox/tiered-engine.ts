import type { RunningSandbox, SandboxEngine, SandboxExit, SandboxInfo, SandboxIo, SandboxSpec, Sentinel, StartHooks, EngineProbe } from './sandbox-engine.js';
import { VM_ID_PREFIX } from './microvm/microvm-engine.js';

/**
 * One SandboxEngine over the container tiers (Docker Engine: runc, runsc) and
 * the microVM tier: a sandbox goes to the microVM engine when its runtime is
 * `microvm`, and its id (`vm-…`) routes every later call. Listing asks both,
 * so `cordon ps`, `stop` and the orphan sweep see every Cordon sandbox. The
 * microVM engine is built on first use.
 */
export class TieredEngine implements SandboxEngine {
  readonly name: string;
  private vmEngine: SandboxEngine | null = null;

  constructor(
    private readonly containers: SandboxEngine,
    private readonly makeVm: () => SandboxEngine,
  ) {
    this.name = containers.name;
  }

  private get vm(): SandboxEngine {
    return (this.vmEngine ??= this.makeVm());
  }

  /** The container engine's probe (doctor asks the microVM tier separately). */
  probe(): Promise<EngineProbe> {
    return this.containers.probe();
  }

  hasImage(ref: string): Promise<boolean> {
    return this.containers.hasImage(ref);
  }

  apparmorEnabled(): Promise<boolean> {
    return this.containers.apparmorEnabled();
  }

  start(spec: SandboxSpec, io: SandboxIo, hooks?: StartHooks): Promise<RunningSandbox> {
    return spec.runtime === 'microvm' ? this.vm.start(spec, io, hooks) : this.containers.start(spec, io, hooks);
  }

  async list(filter: Readonly<Record<string, string>>): Promise<SandboxInfo[]> {
    const [containers, vms] = await Promise.all([this.containers.list(filter), this.vm.list(filter).catch(() => [] as SandboxInfo[])]);
    return [...containers, ...vms];
  }

  remove(id: string): Promise<void> {
    return id.startsWith(VM_ID_PREFIX) ? this.vm.remove(id) : this.containers.remove(id);
  }

  lastExit(filter: Readonly<Record<string, string>>, since: Date): Promise<SandboxExit | null> {
    return this.containers.lastExit(filter, since);
  }

  armSentinel(id: string, helper: string): Promise<Sentinel | null> {
    return id.startsWith(VM_ID_PREFIX) ? this.vm.armSentinel(id, helper) : this.containers.armSentinel(id, helper);
  }
}
