import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { makeTestCerts, type TestCerts } from '../egress/test-certs.js';
import type { EffectivePolicy } from '../policy/policy-schema.js';

/**
 * A stand-in model for `cordon demo`: an HTTPS Messages API on 127.0.0.1 with
 * a throwaway CA, which answers by quoting what it received. The demo session's
 * policy points the model route at it, so the DLP step shows, with no API key
 * and no network, exactly what a vendor would be sent.
 */
export const DEMO_MODEL_HOST = 'demo-model.cordon.test';

export interface DemoModel {
  /** Message texts as the model received them. */
  readonly received: string[];
  /** The effective policy with the model route pointed at this server. */
  policyFor(base: EffectivePolicy): EffectivePolicy;
  close(): void;
}

export async function startDemoModel(): Promise<DemoModel> {
  const certs: TestCerts = makeTestCerts([DEMO_MODEL_HOST]);
  const received: string[] = [];
  const server: Server = createServer({ key: certs.keyPem, cert: certs.certPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let text = '';
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { messages?: Array<{ content?: unknown }> };
        const last = body.messages?.at(-1)?.content;
        text = typeof last === 'string' ? last : JSON.stringify(last ?? '');
      } catch {
        text = '(not JSON)';
      }
      received.push(text);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 'msg_demo', type: 'message', role: 'assistant', model: 'demo', content: [{ type: 'text', text: `I received: ${text}` }], stop_reason: 'end_turn' }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  // Stands in for the keychain: the demo needs no real key.
  const credentialCommand = [process.execPath, '-e', 'console.log(JSON.stringify({token:"demo-not-a-real-key",expiresAt:new Date(Date.now()+36e5).toISOString()}))'];
  return {
    received,
    policyFor: (base) => ({
      ...base,
      providers: { ...base.providers, anthropic: { baseUrl: `https://${DEMO_MODEL_HOST}:${port}`, caFile: certs.caFile, credentialCommand } },
      egress: {
        ...base.egress,
        allowRanges: [...base.egress.allowRanges, '127.0.0.1/32'],
        resolve: { ...base.egress.resolve, [DEMO_MODEL_HOST]: '127.0.0.1' },
      },
    }),
    close: () => {
      server.close();
      certs.cleanup();
    },
  };
}
