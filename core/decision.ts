/**
 * The one shape of a policy decision in core (issue 14, item 3).
 *
 * A decision is a tagged union on `kind`. `allow` lets the thing happen; `deny`
 * refuses it and says why twice: `reason`, a stable machine code, and
 * `message`, one line a person can act on. Other kinds a decision needs
 * (`rewrite`, `redact`, `ask` …) are tagged the same way, on `kind`, so a
 * caller's `switch (d.kind)` is exhaustive and checked by the compiler.
 *
 * Reason codes are contracts: they reach `X-Cordon-Deny` headers, the
 * `reason`/`rule` fields of audit records and tests. Add codes; never rename one.
 * A message may name hosts, paths and rules but never a secret or a value the
 * decision was about (a token, a matched credential).
 *
 * Imports nothing, so every folder of core can use it without a cycle.
 */

/** Extra fields an allow or deny carries beside its tag, e.g. the pattern that decided. */
type Fields = Record<string, unknown>;

/** A yes. `T` adds what the caller needs to act on it (the route, the rewritten headers …). */
export type Allow<T extends Fields = Record<never, never>> = { readonly kind: 'allow' } & Readonly<T>;

/**
 * A refusal. `reason`: stable code from a closed union `R`, never free text.
 * `message`: human-readable and safe to show the agent and write to a log.
 * `T` adds refusal context (an HTTP status, the matched pattern, an address category).
 */
export type Deny<R extends string, T extends Fields = Record<never, never>> = {
  readonly kind: 'deny';
  readonly reason: R;
  readonly message: string;
} & Readonly<T>;

/** A plain yes/no decision; deny before allow in the type, as in the checks. */
export type Decision<R extends string> = Deny<R> | Allow;

/** A decision that, when it allows, hands back a value (a verified binding, a parsed bundle). */
export type Outcome<V, R extends string> = Deny<R> | Allow<{ readonly value: V }>;

/** `{ kind: 'allow' }`, with `fields` spread in when given. */
export function allow(): Allow;
export function allow<T extends Fields>(fields: T): Allow<T>;
export function allow(fields: Fields = {}): Allow<Fields> {
  return { ...fields, kind: 'allow' };
}

/** An allow that carries `value` (see {@link Outcome}). */
export function allowValue<V>(value: V): Allow<{ readonly value: V }> {
  return { kind: 'allow', value };
}

/** `{ kind: 'deny', reason, message }`, with `fields` spread in when given (they cannot override the three). */
export function deny<R extends string>(reason: R, message: string): Deny<R>;
export function deny<R extends string, T extends Fields>(reason: R, message: string, fields: T): Deny<R, T>;
export function deny<R extends string>(reason: R, message: string, fields: Fields = {}): Deny<R, Fields> {
  return { ...fields, kind: 'deny', reason, message };
}
