// compilePolicy with plain values: what a session start and a live reload hand
// to the proxy, the key swap and DLP.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { compileDlpPolicy, DlpPolicySchema } from '../dlp/policy.js';
import { createModelRequestFilter } from '../dlp/request-filter.js';
import { providerHost } from '../egress/egress-policy.js';
import { prepareSessionEgress } from '../session/session-egress.js';
import { compilePolicy, type CompiledPolicy } from './compiled-policy.js';
import { DEFAULT_POLICY, type EffectivePolicy } from './policy-schema.js';

function compiled(effective: EffectivePolicy): CompiledPolicy {
  const r = compilePolicy(effective);
  assert.ok(r.ok, r.ok ? '' : r.errors.join('; '));
  return r.policy;
}

void test('a bad host pattern is reported once, with its path', () => {
  // An effective policy that bypassed the loader's schema: compilePolicy still refuses it.
  const r = compilePolicy({ ...DEFAULT_POLICY, egress: { ...DEFAULT_POLICY.egress, allow: ['api.example.com', '*.com'], allowRanges: ['10.0.0.0/8', '010.0.0.0/8'] } });
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.errors.length, 2, r.errors.join('\n'));
  assert.match(r.errors[0] ?? '', /^egress\.allow\.1: /);
  assert.match(r.errors[1] ?? '', /^egress\.allowRanges\.1: /);
});

void test('egress rules, vendor hosts, provider hosts and the DLP scanner configuration come from one compilation', () => {
  const effective: EffectivePolicy = {
    ...DEFAULT_POLICY,
    egress: { ...DEFAULT_POLICY.egress, allow: ['registry.npmjs.org', '*.github.com:443'] },
    providers: { anthropic: { baseUrl: 'https://api.anthropic.com' }, gateway: { baseUrl: 'https://LLM.Example.com:8443/v1' } },
    dlp: DlpPolicySchema.parse({ corporateCidrs: ['10.0.0.0/8'] }),
  };
  const p = compiled(effective);
  assert.equal(p.effective, effective);
  assert.deepEqual(p.egress.allow.map((a) => a.source), ['registry.npmjs.org', '*.github.com:443']);
  assert.deepEqual([...p.providerHosts], [['anthropic', 'api.anthropic.com'], ['gateway', 'llm.example.com']]);
  assert.deepEqual([...p.vendorHosts].sort(), ['api.anthropic.com', 'llm.example.com']);
  assert.equal(p.dlp.rules, effective.dlp);
  assert.deepEqual(p.dlp.scanner.corporateCidrs, ['10.0.0.0/8']);
});

void test("a provider's host: no port, no trailing dot, lower case, punycode, IPv6 without brackets", () => {
  const cases: [string, string][] = [
    ['https://api.anthropic.com', 'api.anthropic.com'],
    ['https://API.Example.COM:8443/v1/', 'api.example.com'],
    ['https://llm.example.com./', 'llm.example.com'],
    ['https://[FD00:0:0::1]:8443', 'fd00::1'],
    ['https://[::ffff:10.0.0.1]', '::ffff:a00:1'],
    ['https://bücher.example', 'xn--bcher-kva.example'],
    ['https://10.0.0.1:443', '10.0.0.1'],
  ];
  for (const [url, host] of cases) assert.deepEqual(providerHost(url), { ok: true, host }, url);
  assert.equal(providerHost('not a url').ok, false);
  const bad = compilePolicy({ ...DEFAULT_POLICY, providers: { broken: { baseUrl: 'https://1.2.3.256' } } });
  assert.deepEqual(bad.ok ? [] : bad.errors, ['providers.broken.baseUrl: not a URL']);
});

void test('the proxy is handed the compiled egress rules themselves', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cordon-cp-'));
  try {
    const policy = compiled(DEFAULT_POLICY);
    const prep = await prepareSessionEgress({ sessionDir: dir, policy, relayPath: '/nonexistent/relay', hostEnv: {} });
    assert.ok(prep.ok, prep.ok ? '' : prep.message);
    assert.equal(prep.value.policy, policy.egress);
    await prep.value.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

void test('DLP filters scan with the compiled scanner configuration they are handed, not one of their own', () => {
  const rules = DlpPolicySchema.parse({ corporateCidrs: ['10.0.0.0/8'] });
  const body = 'host 10.1.2.3 is down';
  const own = createModelRequestFilter({ policy: compileDlpPolicy(rules), destination: 'x', vault: null });
  assert.equal(own({ body }).kind, 'rewrite');
  // Same rules, a configuration compiled without the range: nothing to find.
  const handed = createModelRequestFilter({ policy: { rules, scanner: { ...compileDlpPolicy(rules).scanner, corporateCidrs: [] } }, destination: 'x', vault: null });
  assert.equal(handed({ body }).kind, 'allow');
});
