import type Docker from 'dockerode';
import { loadDockerode } from './dockerode-loader.js';
import type { SandboxForensics } from './sandbox-forensics.js';

/** SandboxForensics over Docker Engine's API (dockerode; DOCKER_HOST as dockerode reads it). */
export class DockerForensics implements SandboxForensics {
  private readonly docker: Docker;

  constructor(client?: Docker) {
    this.docker = client ?? new (loadDockerode())();
  }

  async pause(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).pause();
    } catch (err) {
      // 409 "is already paused" is the state we want.
      if (!/already paused/i.test(messageOf(err))) throw err;
    }
  }

  async inspect(id: string): Promise<unknown> {
    return this.docker.getContainer(id).inspect();
  }

  async changes(id: string): Promise<ReadonlyArray<{ kind: 'A' | 'C' | 'D'; path: string }>> {
    const raw = ((await this.docker.getContainer(id).changes()) ?? []) as Array<{ Kind: number; Path: string }>;
    return raw.map((c) => ({ kind: c.Kind === 1 ? 'A' : c.Kind === 2 ? 'D' : 'C', path: c.Path }));
  }

  async processes(id: string): Promise<{ titles: string[]; rows: string[][] }> {
    const top = (await this.docker.getContainer(id).top({ ps_args: '-eo pid,ppid,user,stat,lstart,args' })) as { Titles?: string[]; Processes?: string[][] };
    return { titles: top.Titles ?? [], rows: top.Processes ?? [] };
  }

  async keep(id: string, opts: { tag: string; name: string; labels: Readonly<Record<string, string>> }): Promise<{ containerId: string; imageId: string }> {
    const container = this.docker.getContainer(id);
    const info = await container.inspect();
    const [repo, tag] = splitTag(opts.tag);
    // The body replaces the container's configuration in the image: without it the image (and a
    // container made from it) would inherit the session's labels, and the orphan sweep, which
    // removes containers by those labels, would delete what quarantine keeps. The environment is
    // dropped too (it held the revoked phantom and whatever --env set). pause: true is the engine's
    // default; stated, since a sandbox must not change mid-commit.
    const config = { Labels: { ...opts.labels }, Env: ['CORDON_QUARANTINED=1'], Entrypoint: info.Config.Entrypoint, Cmd: info.Config.Cmd, User: info.Config.User, WorkingDir: info.Config.WorkingDir };
    const commitOpts: unknown = { _query: { container: id, repo, tag, pause: true, comment: `Cordon quarantine of ${info.Name}` }, _body: config };
    const committed = (await (container.commit as (o: unknown) => Promise<unknown>).call(container, commitOpts)) as { Id?: string };
    const kept = await this.docker.createContainer({
      name: opts.name,
      Image: opts.tag,
      Labels: { ...opts.labels },
      // Never started; were it started by someone, it would still have no network.
      NetworkDisabled: true,
      HostConfig: { AutoRemove: false, NetworkMode: 'none', CapDrop: ['ALL'], SecurityOpt: ['no-new-privileges'], ReadonlyRootfs: true },
    });
    return { containerId: kept.id, imageId: committed.Id ?? '' };
  }

  async stop(id: string): Promise<void> {
    const container = this.docker.getContainer(id);
    try {
      // A paused container cannot take a signal until it is thawed; kill thaws nothing, so unpause first.
      const state = await this.state(id);
      if (state === null) return;
      if (state === 'paused') await container.unpause();
      await container.kill({ signal: 'SIGKILL' });
    } catch (err) {
      const code = (err as { statusCode?: number }).statusCode;
      if (code === 404 || code === 409) return;
      throw err;
    }
  }

  async discard(kept: { containerId: string; image: string }): Promise<void> {
    try {
      await this.docker.getContainer(kept.containerId).remove({ force: true, v: true });
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 404) throw err;
    }
    try {
      await this.docker.getImage(kept.image).remove({ force: true });
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 404) throw err;
    }
  }

  async state(id: string): Promise<string | null> {
    try {
      const info = await this.docker.getContainer(id).inspect();
      return info.State.Status;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return null;
      throw err;
    }
  }
}

function splitTag(ref: string): [string, string] {
  const at = ref.lastIndexOf(':');
  return at > ref.lastIndexOf('/') ? [ref.slice(0, at), ref.slice(at + 1)] : [ref, 'latest'];
}

function messageOf(err: unknown): string {
  const e = err as { json?: { message?: string }; message?: string };
  return e.json?.message ?? e.message ?? String(err);
}
