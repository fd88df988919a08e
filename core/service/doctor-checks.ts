import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadProfile, type LoadedProfile } from '../profiles/profile-loader.js';
import { checkRuntimeRunsLs, RUNTIME_CHECK_COMMAND } from '../session/runtime-check.js';
import { describeUserMapping, formatSandboxUser, resolveSandboxUser } from '../session/sandbox-user.js';
import { formatPolicyIssue } from '../policy/policy-schema.js';
import type { CordonPaths } from '../paths/cordon-paths.js';
import type { PolicyLoadResult } from '../policy/policy-loader.js';
import type { SandboxEngine } from '../sandbox/sandbox-engine.js';
import { chooseAccelerator, findVmAssets } from '../sandbox/microvm/vm-assets.js';
import { QEMU_ACCOUNT, qemuAccount } from '../sandbox/microvm/microvm-engine.js';
import type { HostUser } from '../session/sandbox-user.js';
import type { DoctorCheck } from '../api/cordon-api.js';

export type { DoctorCheck } from '../api/cordon-api.js';

/** What the checks look at; the CLI, the app and `cordon ui` pass their own. */
export interface DoctorDeps {
  readonly paths: CordonPaths;
  readonly engine: SandboxEngine;
  readonly hostUser: HostUser;
  readonly loadPolicy: () => PolicyLoadResult;
}

export interface DoctorReport {
  /** True only when a launch of the default profile would work; "warn" checks (e.g. no gVisor) do not count. */
  readonly ok: boolean;
  readonly checks: readonly DoctorCheck[];
}

/** Every check, each failing one with a fix, in the order a person would fix them. */
export async function runDoctorChecks(ctx: DoctorDeps): Promise<DoctorReport> {
  const checks: DoctorCheck[] = [];
  const nodeMajor = Number(process.versions.node.split('.')[0]);
  checks.push(nodeMajor >= 20 ? { check: 'node', status: 'ok', detail: `Node.js ${process.versions.node}` } : { check: 'node', status: 'fail', detail: `Node.js ${process.versions.node} is too old`, fix: 'install Node.js 20 or newer' });

  const pol = ctx.loadPolicy();
  let profileName = 'standard';
  if (pol.ok) {
    profileName = pol.policy.sandbox.profile;
    checks.push({ check: 'policy', status: 'ok', detail: `valid (${pol.sources.length} source(s): ${pol.sources.map((s) => s.file).join(', ') || 'built-in defaults only'})` });
  } else {
    checks.push({ check: 'policy', status: 'fail', detail: pol.issues.map(formatPolicyIssue).join('; '), fix: 'fix the policy file named above; `cordon policy validate FILE` checks one' });
  }

  const profilesDir = join(ctx.paths.home, 'profiles');
  const prof = loadProfile(profileName, profilesDir);
  let image: string | null = null;
  let runtime: string | null = null;
  if (prof.ok) {
    image = prof.value.profile.image;
    runtime = prof.value.profile.runtime;
    if (readSeccomp(prof.value) !== null) {
      checks.push({ check: 'profile', status: 'ok', detail: `${profileName}: ${prof.value.profile.description}` });
    } else {
      checks.push({ check: 'profile', status: 'fail', detail: `${profileName}: seccomp profile ${prof.value.profile.seccomp} is unreadable`, fix: 'reinstall Cordon or fix the profile' });
    }
    const user = resolveSandboxUser(prof.value.profile.user, ctx.hostUser);
    checks.push({ check: 'user', status: 'ok', detail: describeUserMapping(ctx.hostUser, user, profileName) });
  } else {
    checks.push({ check: 'profile', status: 'fail', detail: prof.issues.map((i) => `${i.path}: ${i.message}`).join('; '), fix: 'fix the profile or choose another with policy sandbox.profile' });
  }

  const probe = await ctx.engine.probe();
  if (!probe.ok) {
    checks.push({ check: 'docker', status: 'fail', detail: probe.message, fix: 'start Docker Engine (see above), then rerun `cordon doctor`' });
  } else {
    checks.push({ check: 'docker', status: 'ok', detail: `Docker Engine ${probe.version} reachable; runtimes: ${probe.runtimes.join(', ')}` });
    if (runtime !== null && runtime !== 'microvm') {
      checks.push(
        probe.runtimes.includes(runtime)
          ? { check: 'runtime', status: 'ok', detail: `${runtime} available for profile ${profileName}` }
          : { check: 'runtime', status: 'fail', detail: `profile ${profileName} needs runtime ${runtime}, which Docker Engine does not have`, fix: 'register it in /etc/docker/daemon.json and restart dockerd' },
      );
    }
    checks.push(
      probe.runtimes.includes('runsc')
        ? { check: 'gvisor', status: 'ok', detail: 'runsc registered: --profile strict is available' }
        : { check: 'gvisor', status: 'warn', detail: 'gVisor (runsc) is not registered: --profile strict will not start', fix: '`sudo bash scripts/setup.sh` in a Cordon checkout installs the gVisor build Cordon pins and registers it' },
    );
    checks.push(microvmCheck(runtime === 'microvm' ? profileName : null));
    checks.push(
      probe.seccomp
        ? { check: 'seccomp', status: 'ok', detail: 'seccomp filtering supported' }
        : { check: 'seccomp', status: 'fail', detail: 'Docker Engine reports no seccomp support', fix: 'use a kernel and engine built with seccomp' },
    );
    checks.push({ check: 'apparmor', status: probe.apparmor ? 'ok' : 'warn', detail: probe.apparmor ? 'AppArmor profiles applied' : 'host has no AppArmor: the profile\'s AppArmor setting is skipped (seccomp, capabilities and namespaces still apply)' });
    if (image !== null) {
      const has = await ctx.engine.hasImage(image).catch(() => false);
      checks.push(has ? { check: 'image', status: 'ok', detail: `${image} present` } : { check: 'image', status: 'fail', detail: `${image} is not in Docker Engine`, fix: 'sudo npx cordon image build' });
    }
    if (probe.runtimes.includes('runsc')) {
      // The policy's own profile when it is a gVisor one, else the built-in strict profile.
      const strict = runtime === 'runsc' && prof.ok ? prof : loadProfile('strict', profilesDir);
      const check = strict.ok ? await strictRuntimeCheck(ctx, strict.value) : null;
      if (check !== null) checks.push(check);
    }
  }

  return { ok: !checks.some((c) => c.status === 'fail'), checks };
}

/**
 * Whether the microVM tier (issue 21) can start here, and with which
 * accelerator: KVM where /dev/kvm is usable, else TCG (software emulation,
 * slower to boot). A failure only when PROFILE (the default profile) is a
 * microVM one; otherwise a warning that --profile vm will not start.
 */
function microvmCheck(profile: string | null): DoctorCheck {
  const found = findVmAssets();
  if (!found.ok) {
    return { check: 'microvm', status: profile !== null ? 'fail' : 'warn', detail: `the microVM tier is not available: ${found.message}`, fix: '`sudo bash scripts/setup.sh` in a Cordon checkout installs QEMU, the guest kernel and virtiofsd' };
  }
  const accel = chooseAccelerator() === 'kvm' ? 'KVM' : 'TCG (software emulation: no usable /dev/kvm, so VMs boot in seconds, not milliseconds)';
  if (process.geteuid?.() === 0 && qemuAccount() === null) {
    return { check: 'microvm', status: 'warn', detail: `QEMU microvm with guest kernel ${found.assets.kernelRelease}, accelerator ${accel}; but there is no ${QEMU_ACCOUNT} account, so QEMU would run as root (under its seccomp sandbox)`, fix: `sudo useradd --system --no-create-home --shell /usr/sbin/nologin ${QEMU_ACCOUNT} (scripts/setup.sh does it)` };
  }
  return { check: 'microvm', status: 'ok', detail: `QEMU microvm with guest kernel ${found.assets.kernelRelease}, accelerator ${accel}: --profile vm is available${profile !== null ? ` (profile ${profile})` : ''}` };
}

/** The profile's seccomp profile as compact JSON, or null when it cannot be read. */
function readSeccomp(loaded: LoadedProfile): string | null {
  try {
    return JSON.stringify(JSON.parse(readFileSync(resolve(loaded.baseDir, loaded.profile.seccomp), 'utf8')));
  } catch {
    return null;
  }
}

/**
 * Whether the gVisor profile's runtime runs `ls` in its image, as a session
 * would; null (no line) when the image is missing, which the image check
 * reports, or the seccomp profile is unreadable.
 */
async function strictRuntimeCheck(ctx: DoctorDeps, loaded: LoadedProfile): Promise<DoctorCheck | null> {
  const { profile } = loaded;
  const seccompProfile = readSeccomp(loaded);
  if (seccompProfile === null || !(await ctx.engine.hasImage(profile.image).catch(() => false))) return null;
  const res = await checkRuntimeRunsLs(ctx.engine, {
    profile,
    seccompProfile,
    user: formatSandboxUser(resolveSandboxUser(profile.user, ctx.hostUser)),
    apparmorProfile: (await ctx.engine.apparmorEnabled()) ? profile.apparmor : null,
  });
  const what = `${profile.runtime} (profile ${profile.name})`;
  return res.ok
    ? { check: 'strict', status: 'ok', detail: `${what} runs \`${RUNTIME_CHECK_COMMAND.join(' ')}\` in ${profile.image} (${res.ms} ms)` }
    : {
        check: 'strict',
        status: 'fail',
        detail: `${what} is registered but cannot run an agent: ${res.message}`,
        fix: "install the gVisor build Cordon pins: `sudo bash scripts/setup.sh` in a Cordon checkout (Debian 12's own runsc answers statx with EINVAL, so `ls` fails)",
      };
}
