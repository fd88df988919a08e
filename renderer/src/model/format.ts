/** Display formatting shared by the screens. */

/** A duration as a person reads it: "42 s", "3 min 07 s", "2 h 05 min", "3 d 4 h". Negative becomes 0 s. */
export function formatUptime(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${pad(s % 60)} s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ${pad(m % 60)} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

function pad(n: number): string {
  return n.toString().padStart(2, '0');
}

/** Uptime from an ISO creation time; null when the time cannot be read. */
export function uptimeSince(createdAt: string, now: number): string | null {
  const t = Date.parse(createdAt);
  return Number.isNaN(t) ? null : formatUptime(now - t);
}

/** A policy value for a table cell: strings bare, everything else as compact JSON. */
export function formatPolicyValue(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined) return '(unset)';
  return JSON.stringify(value) ?? `(${typeof value})`;
}
