/**
 * The wire format of the `cordon ui` bridge (issue 15): one WebSocket at
 * `BRIDGE_PATH` on 127.0.0.1 carries calls, their answers and pushed events.
 *
 * Authentication happens at the upgrade, before any frame: the 256-bit token
 * from the URL fragment travels as a header. Browsers cannot set arbitrary
 * headers on a WebSocket, so the renderer offers it as a subprotocol
 * (`Sec-WebSocket-Protocol: cordon.v1, cordon-token.<64 hex>`); other clients
 * may send `X-Cordon-Token`. The server answers the upgrade with `cordon.v1`
 * only, so the token is never echoed.
 *
 * Imported by the renderer: no Node built-ins here.
 */
import * as z from 'zod/mini';
import { ApiErrorSchema, ApiEventSchema } from './cordon-api.js';

export const BRIDGE_PATH = '/api';
export const BRIDGE_SUBPROTOCOL = 'cordon.v1';
export const TOKEN_SUBPROTOCOL_PREFIX = 'cordon-token.';
export const TOKEN_HEADER = 'x-cordon-token';
/** 256 bits as lower-case hex. */
export const TOKEN_PATTERN = /^[0-9a-f]{64}$/;

/** Client → server: one call. `params` is validated against the method's schema on arrival. */
export const BridgeCallSchema = z.strictObject({
  id: z.int().check(z.nonnegative()),
  method: z.string().check(z.maxLength(64)),
  params: z.unknown(),
});
export type BridgeCall = z.infer<typeof BridgeCallSchema>;

/** Server → client: an answer to call `id`, or an event. */
export const BridgeMessageSchema = z.union([
  z.strictObject({ id: z.int(), ok: z.literal(true), value: z.unknown() }),
  z.strictObject({ id: z.nullable(z.int()), ok: z.literal(false), error: ApiErrorSchema }),
  z.strictObject({ event: ApiEventSchema }),
]);
export type BridgeMessage = z.infer<typeof BridgeMessageSchema>;

/** The token in a page URL's fragment (`#token=…`), or null. */
export function tokenFromFragment(hash: string): string | null {
  const m = /(?:^#|&)token=([0-9a-f]{64})(?:&|$)/.exec(hash);
  return m?.[1] ?? null;
}
