/**
 * What the proxy tells the agent when it refuses: the HTTP status of each
 * reason code and one line of text a person can act on. Pure.
 */
import type { DenyReason } from './host-match.js';

/** HTTP status answered for each reason code. */
export const STATUS: Record<DenyReason, number> = {
  host_not_allowed: 403,
  host_denied: 403,
  port_not_allowed: 403,
  address_blocked: 403,
  bad_target: 400,
  resolve_failed: 502,
  upstream_failed: 502,
  rate_limited: 429,
  too_many_tunnels: 503,
  body_too_large: 413,
  headers_too_large: 431,
  header_timeout: 408,
  unknown_provider: 404,
  filter_rejected: 403,
  credential_leak: 403,
  model_route_only: 403,
  proxy_error: 500,
};

/** `host:port` with IPv6 bracketed, for messages and CONNECT lines. */
export function authority(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** One line the agent (or the person reading its output) can act on. */
export function denyMessage(reason: DenyReason, target: string, detail: string): string {
  const tail = detail ? ` (${detail})` : '';
  switch (reason) {
    case 'host_not_allowed':
      return `Cordon blocked ${target}: the host is not in this session's egress allow list.`;
    case 'host_denied':
      return `Cordon blocked ${target}: the host is on the egress deny list.`;
    case 'port_not_allowed':
      return `Cordon blocked ${target}: the host is allowed, but not on this port.`;
    case 'address_blocked':
      return `Cordon blocked ${target}: it resolves to a local, private or metadata address${tail}.`;
    case 'bad_target':
      return `Cordon refused the request: malformed or unsupported target${tail}.`;
    case 'resolve_failed':
      return `Cordon could not resolve ${target}${tail}.`;
    case 'upstream_failed':
      return `Cordon could not connect to ${target}${tail}.`;
    case 'rate_limited':
      return 'Cordon refused the request: too many requests per second; retry shortly.';
    case 'too_many_tunnels':
      return 'Cordon refused the connection: too many open connections in this session.';
    case 'body_too_large':
      return 'Cordon refused the request: the body is larger than the inspection limit.';
    case 'headers_too_large':
      return 'Cordon refused the request: the request headers are too large.';
    case 'header_timeout':
      return 'Cordon closed the connection: the request headers did not arrive in time.';
    case 'unknown_provider':
      return `Cordon has no model provider named ${target}.`;
    case 'credential_leak':
      return `Cordon refused to send a session credential to ${target}${tail}; a phantom only goes where policy sends it: the model route, or its own credential's hosts inside an inspected tunnel.`;
    case 'filter_rejected':
      return `Cordon's request filter refused the request${tail}.`;
    case 'model_route_only':
      return `Cordon blocked ${target}: it is a model vendor's API host, reached only through Cordon's model route (http://127.0.0.1:3128/model/<provider>/, what ANTHROPIC_BASE_URL points at), where requests are scanned and carry this session's key.`;
    case 'proxy_error':
      return `Cordon's proxy could not handle the request${tail}.`;
  }
}
