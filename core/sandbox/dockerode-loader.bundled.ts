import type Docker from 'dockerode';

/**
 * The dockerode loader inside Cordon's bundle: scripts/bundle.mjs resolves
 * `./dockerode-loader.js` to this file. esbuild compiles dockerode into the
 * bundle, with the transports Cordon never uses (UNUSED_DOCKERODE_MODULES in
 * dockerode-loader.ts) replaced by stubs that refuse when called, so loading
 * the client is one chunk evaluated on first use instead of some two hundred
 * files resolved from node_modules.
 */
declare const require: (id: string) => unknown;

export { UNUSED_DOCKERODE_MODULES } from './dockerode-loader.js';

export function loadDockerode(): typeof Docker {
  return require('dockerode') as typeof Docker;
}
