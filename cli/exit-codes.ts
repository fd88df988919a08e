/**
 * Cordon's exit codes (a contract for scripts; also printed by `cordon --help`).
 * `cordon exec` and `cordon launch` otherwise exit with the sandboxed command's own code.
 */
export const EXIT = {
  ok: 0,
  /** A check failed: `doctor` found a problem, `audit verify` found tampering, `policy validate` found errors; `drop`/`take` refused a file. */
  checkFailed: 1,
  /** The command line was wrong. */
  usage: 2,
  /** Policy (user or managed) is malformed: nothing may launch. */
  policyInvalid: 3,
  /** Docker Engine is not reachable. */
  engineUnavailable: 4,
  /** exec/launch/demo: the sandbox was refused or could not start (policy, profile, mounts, image, runtime). */
  sandboxNotStarted: 125,
} as const;

export const EXIT_CODE_HELP = `
Exit codes:
  0    success
  1    a check failed (doctor, audit verify, policy validate), or drop/take
       refused a file
  2    usage error
  3    policy is malformed (nothing may launch until it is fixed)
  4    Docker Engine is not reachable
  125  exec/launch/demo: the sandbox was refused or could not start,
       or Cordon ended it because its egress proxy stopped (fail closed)
  N    exec/launch: otherwise the sandboxed command's own exit code
       (130/143 when stopped by Ctrl-C/SIGTERM)`;
