import { z } from 'zod';

/**
 * A sandbox profile: everything about how the container is built that is not
 * per-launch. Profiles live as JSON in `sandbox-profiles/` (built-in) and
 * `$CORDON_HOME/profiles/` (user); both are validated against this schema.
 * `sandbox-profiles/profile.schema.json` is generated from it (`npm run gen:schemas`).
 */

const protectedPath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith('/') && !p.split('/').includes('..') && !p.split('/').includes('.'), {
    message: 'must be relative to the workspace root, without "." or ".." segments',
  });

export const ProfileSchema = z
  .strictObject({
    $schema: z.string().optional().describe('Editor hint; ignored.'),
    name: z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'lowercase letters, digits and "-"').describe('Profile name used with --profile.'),
    description: z.string().describe('One line shown by `cordon doctor` and `cordon ps`.'),
    image: z.string().min(1).describe('OCI image the agent runs in; must exist in the local engine (`cordon image build` makes the default one).'),
    command: z.array(z.string()).min(1).describe('Command `cordon launch` runs when none is given.'),
    agent: z
      .enum(['claude-code', 'generic'])
      .optional()
      .describe(
        'What the agent is. "claude-code": Cordon prepares its home inside the sandbox (first run done, the session\'s phantom key approved) so it starts straight into a prompt that answers through the model route; as a conversation (`cordon launch --chat`, the app) it runs with stream-json input and output. "generic" (the default): nothing is prepared; as a conversation, `command` runs once per turn with the user\'s message on its stdin, and what it writes is the answer.',
      ),
    user: z
      .union([z.literal('auto'), z.string().regex(/^[1-9][0-9]{0,9}:[1-9][0-9]{0,9}$/, 'UID:GID, both non-zero')])
      .describe('Non-root uid:gid in the sandbox. "auto" uses the invoking user; under sudo, the account behind sudo (SUDO_UID/SUDO_GID); 1000:1000 for plain root.'),
    runtime: z
      .enum(['runc', 'runsc', 'microvm'])
      .describe('Isolation: "runc" (container: namespaces + seccomp), "runsc" (container under gVisor\'s user-space kernel) or "microvm" (a QEMU microVM with its own kernel; no network device; KVM where /dev/kvm is usable, software emulation otherwise).'),
    limits: z
      .strictObject({
        memoryMiB: z.number().int().min(64).max(1048576).describe('Memory limit; swap is not allowed beyond it.'),
        cpus: z.number().positive().max(1024).describe('CPU quota in cores (fractions allowed).'),
        pids: z.number().int().min(16).max(1000000).describe('Maximum processes and threads in the sandbox.'),
        tmpfsMiB: z.number().int().min(1).max(65536).describe('Size cap of the noexec /tmp tmpfs.'),
      })
      .describe('Resource limits.'),
    seccomp: z
      .string()
      .min(1)
      .describe('Seccomp profile file, relative to the profile folder (e.g. "seccomp/cordon-default.json").'),
    apparmor: z
      .string()
      .min(1)
      .describe('AppArmor profile name, applied where the host has AppArmor (e.g. "docker-default").'),
    mounts: z
      .array(
        z.strictObject({
          path: z.string().min(1).describe('Host folder; absolute or starting with "~/".'),
          mode: z.enum(['ro', 'rw']).describe('Read-only or read-write.'),
        }),
      )
      .describe('Folders every session of this profile mounts, in addition to --workspace ones.'),
    writeProtected: z
      .array(protectedPath)
      .describe('Workspace-relative paths that stay read-only inside writable mounts (trailing "/" marks a folder). Host tools later run what an agent leaves there.'),
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string()).describe('Environment set in the sandbox.'),
    provider: z
      .strictObject({
        name: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/).describe('Provider in policy `providers` whose model route the agent uses.'),
        keyEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).describe('Variable that carries the session\'s phantom token in the sandbox (e.g. ANTHROPIC_API_KEY).'),
        header: z.enum(['x-api-key', 'authorization-bearer']).describe('Where the real key goes on the way to the vendor.'),
      })
      .optional()
      .describe('The model provider the agent needs a key for. `cordon launch` refuses to start when no key is available for it.'),
  })
  .describe('Cordon sandbox profile.');

export type SandboxProfile = z.infer<typeof ProfileSchema>;
