/**
 * The `credentials` policy key (issue 19, item 4): phantom credentials for
 * any service. Each entry names the hosts the real value may go to, the
 * sandbox variable that holds the phantom, and how the real value is written
 * into a request. The real value comes from the OS keychain (`cordon keys set
 * NAME`) or a credential command; the sandbox never holds it.
 */
import { z } from 'zod';
import { parseHostPattern } from '../egress/host-match.js';
import { PROVIDER_NAME_PATTERN } from '../keys/provider-name.js';

const hostPattern = z.string().superRefine((value, ctx) => {
  const r = parseHostPattern(value);
  if (!r.ok) ctx.addIssue({ code: 'custom', message: r.why });
});

/** Variables Cordon sets itself, or that change how every program runs: a phantom must not take their place. */
const RESERVED_ENV = /^(LD_.*|PATH|HOME|USER|SHELL|.*_PROXY|.*_proxy|SSL_CERT_FILE|SSL_CERT_DIR|NODE_EXTRA_CA_CERTS|NODE_OPTIONS|REQUESTS_CA_BUNDLE|CURL_CA_BUNDLE|GIT_SSL_CAINFO|ANTHROPIC_BASE_URL|CORDON_.*)$/;

export const ServiceCredentialSchema = z
  .strictObject({
    hosts: z.array(hostPattern).min(1).describe('Hosts the real value may be sent to, as in egress.allow ("host", "*.example.com"). They must also be in egress.allow and egress.inspect: the swap happens only inside an inspected tunnel.'),
    env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'an environment variable name')
      .refine((v) => !RESERVED_ENV.test(v), { message: 'this variable is Cordon\'s own or changes how every program runs; pick another' })
      .describe('The variable that holds the phantom inside the sandbox, e.g. GH_TOKEN.'),
    header: z
      .string()
      .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/, 'an HTTP header name')
      .default('Authorization')
      .describe('The request header the real value is written into (scheme "header" and "basic").'),
    format: z
      .string()
      .max(200)
      .refine((v) => v.split('{}').length === 2 && !/[\r\n]/.test(v), { message: 'must contain "{}" exactly once and no line break' })
      .default('Bearer {}')
      .describe('How the header value is written, "{}" standing for the real value (scheme "header").'),
    scheme: z
      .enum(['header', 'basic', 'query'])
      .default('header')
      .describe('"header": the header is set to format with the real value; "basic": HTTP basic authentication whose password is the phantom (the user name the client sent is kept), as git sends a token; "query": the URL query parameter queryParam.'),
    queryParam: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).optional().describe('The query parameter that carries the credential (scheme "query").'),
    credentialCommand: z
      .array(z.string().min(1))
      .min(1)
      .optional()
      .describe('Command (program and arguments, no shell) printing {"token": "...", "expiresAt": "<ISO 8601>"}; used instead of the keychain when set.'),
  })
  .superRefine((c, ctx) => {
    if (c.scheme === 'query' && c.queryParam === undefined) ctx.addIssue({ code: 'custom', path: ['queryParam'], message: 'scheme "query" needs queryParam' });
  })
  .describe('A service credential: the sandbox holds a phantom, the proxy writes the real value only on inspected requests to its hosts.');

export const CredentialsPolicySchema = z
  .record(z.string().regex(PROVIDER_NAME_PATTERN, 'credential names are lower-case letters, digits, "-" and "_", starting with a letter (the name `cordon keys set` takes)'), ServiceCredentialSchema)
  .describe('Phantom credentials for services other than the model route (GitHub, npm, an internal API), keyed by the name their real value is stored under (`cordon keys set NAME`).');

export type ServiceCredentialPolicy = z.infer<typeof ServiceCredentialSchema>;
export type CredentialsPolicy = z.infer<typeof CredentialsPolicySchema>;
