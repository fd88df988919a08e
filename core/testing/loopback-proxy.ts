import { MemoryAuditSink } from '../audit/audit-event.js';
import { compileEgressPolicy } from '../egress/egress-policy.js';
import { EgressProxy, type EgressProxyOptions } from '../egress/egress-proxy.js';

/**
 * Test support (not a test): starts an EgressProxy on SOCKETPATH whose policy
 * allows one name, pinned to 127.0.0.1 (`<name>:<port>`, loopback in
 * allowRanges), with no DNS and no host addresses, so nothing it does can
 * leave the machine. OPTIONS add to or override that (a splice helper, a
 * handoff or shim gate, limits). The caller stops the proxy.
 */
export async function startLoopbackProxy(socketPath: string, target: { readonly name: string; readonly port: number }, options: Partial<EgressProxyOptions> = {}): Promise<{ proxy: EgressProxy; audit: MemoryAuditSink; notices: string[] }> {
  const r = compileEgressPolicy({ allow: [`${target.name}:${target.port}`], allowRanges: ['127.0.0.0/8'], resolve: { [target.name]: '127.0.0.1' } });
  if (!r.ok) throw new Error(r.errors.join('; '));
  const audit = new MemoryAuditSink();
  const notices: string[] = [];
  const proxy = new EgressProxy({
    socketPath,
    policy: r.policy,
    audit,
    hostAddresses: () => [],
    resolver: () => Promise.resolve({ ok: false, why: 'ENOTFOUND' }),
    notice: (m) => notices.push(m),
    ...options,
  });
  await proxy.start();
  return { proxy, audit, notices };
}
