import type Docker from 'dockerode';
import { createRequire } from 'node:module';

/** The optional transports dockerode requires at load time that Cordon never uses. */
export const UNUSED_DOCKERODE_MODULES = ['@grpc/grpc-js', '@grpc/proto-loader', 'ssh2', 'tar-fs', 'uuid', 'protobufjs', '@balena/dockerignore'] as const;

/**
 * Loads dockerode without the transports Cordon never uses. dockerode requires
 * gRPC (BuildKit sessions), ssh2 (ssh:// engines), tar-fs (build contexts from
 * folders) and uuid at load time; together they cost ~90 ms of every `cordon`
 * start-up, most of the launch-overhead budget. Cordon talks to a local
 * socket, so those modules are replaced by stubs that throw if ever used.
 */
export function loadDockerode(): typeof Docker {
  const require = createRequire(import.meta.url);
  const dockerodeMain = require.resolve('dockerode');
  const fromDockerode = createRequire(dockerodeMain);
  const modemMain = fromDockerode.resolve('docker-modem');
  for (const name of UNUSED_DOCKERODE_MODULES) {
    for (const base of [fromDockerode, createRequire(modemMain)]) {
      let resolved: string;
      try {
        resolved = base.resolve(name);
      } catch {
        continue;
      }
      if (require.cache[resolved]) continue;
      const refuse = (): never => {
        throw new Error(`Cordon does not support the Docker feature that needs ${name} (remote ssh:// engines, BuildKit sessions, folder build contexts)`);
      };
      // Members are looked up at load time (`require('ssh2').Client`) but only
      // used by those features: hand out functions that refuse when called.
      const stub = new Proxy({}, { get: (_t, prop) => (prop === '__esModule' || typeof prop === 'symbol' ? undefined : refuse) });
      require.cache[resolved] = { id: resolved, filename: resolved, loaded: true, exports: stub } as unknown as NodeJS.Module;
    }
  }
  return require('dockerode') as typeof Docker;
}
