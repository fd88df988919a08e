/**
 * What quarantine asks of the engine (issue 20), apart from SandboxEngine so
 * engines that cannot pause or commit (a future microVM driver) say so by not
 * offering it. The Docker Engine implementation is docker-forensics.ts.
 */
export interface SandboxForensics {
  /** Freezes every process of the sandbox (cgroup freezer). A sandbox already paused is not an error. */
  pause(id: string): Promise<void>;
  /** The engine's full record of the sandbox (config, mounts, state), as JSON. */
  inspect(id: string): Promise<unknown>;
  /** File system changes against the image (`docker diff`): kind A(dded), C(hanged), D(eleted) and path. */
  changes(id: string): Promise<ReadonlyArray<{ readonly kind: 'A' | 'C' | 'D'; readonly path: string }>>;
  /** The sandbox's processes as the engine lists them (titles and rows of `ps`). */
  processes(id: string): Promise<{ readonly titles: readonly string[]; readonly rows: ReadonlyArray<readonly string[]> }>;
  /**
   * Keeps what can be kept of a sandbox whose engine would delete it on stop
   * (Cordon's containers are created with AutoRemove): commits its file
   * system to image TAG and creates a stopped, never-started container NAME
   * from it (AutoRemove off, no network, no mounts) carrying LABELS.
   * Returns the kept container's id and the image id.
   */
  keep(id: string, opts: { readonly tag: string; readonly name: string; readonly labels: Readonly<Record<string, string>> }): Promise<{ readonly containerId: string; readonly imageId: string }>;
  /** Stops the sandbox (SIGKILL); with AutoRemove the engine then removes it. A missing one is not an error. */
  stop(id: string): Promise<void>;
  /** Removes a kept container and its image; missing ones are not an error. */
  discard(kept: { readonly containerId: string; readonly image: string }): Promise<void>;
  /** Whether a container exists, and its state (`paused`, `running`, `exited`, `created` …); null when gone. */
  state(id: string): Promise<string | null>;
}
