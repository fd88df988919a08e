/**
 * Issue 6: the precedence matrix (every pair of sources, for scalars, for
 * allow lists that loosen the sandbox and for deny lists that tighten it),
 * locks, and signed bundles (valid, tampered, wrong key, rollback, expired)
 * as the loader sees them, with real files in temporary folders.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { decideByPolicy } from '../approvals/approval-policy.js';
import { resolveCordonPaths } from '../paths/cordon-paths.js';
import { loadPolicy, type PolicyLevel } from './policy-loader.js';
import { generateBundleKeyPair, signBundle, signatureFileFor } from './signed-bundle.js';
import { DEFAULT_POLICY, PolicySchema } from './policy-schema.js';

const root = mkdtempSync(join(tmpdir(), 'cordon-precedence-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

type Docs = Partial<Record<PolicyLevel, unknown>>;
function setup(docs: Docs): ReturnType<typeof resolveCordonPaths> {
  const dir = join(root, String(n++));
  const paths = resolveCordonPaths({ CORDON_HOME: join(dir, 'home'), CORDON_POLICY_DIR: join(dir, 'pol'), HOME: dir }, 'linux');
  mkdirSync(paths.home, { recursive: true });
  for (const level of ['managed', 'recommended', 'trust'] as const) mkdirSync(join(paths.policyDir, level), { recursive: true });
  if (docs.user !== undefined) writeFileSync(paths.userPolicyFile, JSON.stringify(docs.user));
  if (docs.recommended !== undefined) writeFileSync(join(paths.policyDir, 'recommended', 'r.json'), JSON.stringify(docs.recommended));
  if (docs.managed !== undefined) writeFileSync(join(paths.policyDir, 'managed', 'm.json'), JSON.stringify(docs.managed));
  return paths;
}

const LEVELS: PolicyLevel[] = ['user', 'recommended', 'managed'];
const rank = (l: PolicyLevel): number => LEVELS.indexOf(l);

describe('precedence matrix', () => {
  for (const low of LEVELS) {
    for (const high of LEVELS) {
      if (rank(high) <= rank(low)) continue;
      test(`${high} beats ${low} for a scalar, and locks it when managed`, () => {
        const res = loadPolicy(setup({ [low]: { egress: { mode: 'report' } }, [high]: { egress: { mode: 'enforce' } } }), { trustedKeys: [] });
        assert.ok(res.ok);
        if (!res.ok) return;
        assert.equal(res.policy.egress.mode, 'enforce');
        assert.equal(res.provenance.origins.get('egress.mode')?.kind, high);
        assert.equal(res.provenance.locked.has('egress.mode'), high !== 'user');
      });
      test(`${high}'s allowlist replaces ${low}'s`, () => {
        const res = loadPolicy(setup({ [low]: { egress: { allow: ['low.example'] } }, [high]: { egress: { allow: ['high.example'] } } }), { trustedKeys: [] });
        assert.ok(res.ok);
        if (!res.ok) return;
        assert.ok(res.policy.egress.allow.includes('high.example'));
        assert.ok(!res.policy.egress.allow.includes('low.example'));
      });
      test(`deny lists of ${low} and ${high} are a union`, () => {
        const res = loadPolicy(setup({ [low]: { egress: { deny: ['low.example'] }, workspaces: { deny: ['/low'] } }, [high]: { egress: { deny: ['high.example'] }, workspaces: { deny: ['/high'] } } }), { trustedKeys: [] });
        assert.ok(res.ok);
        if (!res.ok) return;
        for (const h of ['low.example', 'high.example', 'statsig.anthropic.com']) assert.ok(res.policy.egress.deny.includes(h), h);
        assert.deepEqual([...res.policy.workspaces.deny].sort(), ['/high', '/low']);
      });
    }
  }
  test('each level alone over the built-in defaults', () => {
    for (const level of LEVELS) {
      const res = loadPolicy(setup({ [level]: { sandbox: { profile: 'strict' } } }), { trustedKeys: [] });
      assert.ok(res.ok && res.policy.sandbox.profile === 'strict', level);
    }
    const none = loadPolicy(setup({}), { trustedKeys: [] });
    assert.ok(none.ok && none.policy.sandbox.profile === 'standard' && none.provenance.origins.size === 0);
  });
  test('a broken recommended file stops the load, naming it', () => {
    const paths = setup({});
    writeFileSync(join(paths.policyDir, 'recommended', 'bad.json'), '{"egress": {"mode": "sometimes"}}');
    const res = loadPolicy(paths, { trustedKeys: [] });
    assert.ok(!res.ok && /recommended\/bad\.json/.test(res.issues[0]?.source ?? '') && res.issues[0]?.path === 'egress.mode');
  });
});

describe('approvals (issue 17)', () => {
  const load = (docs: Docs) => {
    const res = loadPolicy(setup(docs), { trustedKeys: [] });
    assert.ok(res.ok, JSON.stringify(res));
    if (!res.ok) throw new Error('unreachable');
    return res;
  };
  const file = (target: string, write = false) => ({ kind: 'file' as const, target, write, sessionWorkspaces: ['/w'] });
  test('nothing set: the built-in defaults, reported as defaults', () => {
    const res = load({});
    assert.deepEqual(res.policy.approvals, { fileAccess: 'ask', timeoutSeconds: 60, preApproved: [], neverAllow: [], maxRequestsPerMinute: 20 });
    assert.equal(res.provenance.origins.has('approvals.timeoutSeconds'), false);
  });
  test("managed neverAllow beats a user's pre-approval of the same folder", () => {
    const res = load({ user: { approvals: { preApproved: [{ kind: 'file', target: '/data', write: true }] } }, managed: { approvals: { neverAllow: [{ kind: 'file', target: '/data/secret' }] } } });
    assert.equal(decideByPolicy(file('/data/secret/k', true), res.policy.approvals, '/h').kind, 'deny');
    assert.equal(decideByPolicy(file('/data/public', true), res.policy.approvals, '/h').kind, 'allow', 'the rest of the user pre-approval still stands');
  });
  test('neverAllow lists of every level are a union; a user cannot empty a managed one', () => {
    const res = load({ user: { approvals: { neverAllow: [] } }, recommended: { approvals: { neverAllow: [{ kind: 'network', target: 'r.test' }] } }, managed: { approvals: { neverAllow: [{ kind: 'network', target: 'm.test' }] } } });
    assert.deepEqual(res.policy.approvals.neverAllow.map((e) => e.target).sort(), ['m.test', 'r.test']);
  });
  test("a higher level's preApproved replaces lower ones; the same level adds", () => {
    const res = load({ user: { approvals: { preApproved: [{ kind: 'file', target: '/u' }] } }, managed: { approvals: { preApproved: [{ kind: 'file', target: '/m' }] } } });
    assert.deepEqual(res.policy.approvals.preApproved, [{ kind: 'file', target: '/m' }]);
    assert.equal(res.provenance.locked.get('approvals.preApproved')?.kind, 'managed');
    const empty = load({ user: { approvals: { preApproved: [{ kind: 'file', target: '/u' }] } }, managed: { approvals: { preApproved: [] } } });
    assert.deepEqual(empty.policy.approvals.preApproved, [], 'managed [] removes every user pre-approval');
  });
  test("a user's own settings cannot weaken managed scalars", () => {
    const res = load({ user: { approvals: { fileAccess: 'ask', timeoutSeconds: 3600, maxRequestsPerMinute: 600 } }, managed: { approvals: { fileAccess: 'deny', timeoutSeconds: 30, maxRequestsPerMinute: 5 } } });
    assert.equal(res.policy.approvals.fileAccess, 'deny');
    assert.equal(res.policy.approvals.timeoutSeconds, 30);
    assert.equal(res.policy.approvals.maxRequestsPerMinute, 5);
    for (const k of ['fileAccess', 'timeoutSeconds', 'maxRequestsPerMinute']) assert.equal(res.provenance.locked.get(`approvals.${k}`)?.kind, 'managed', k);
  });
  test('managed fileAccess "deny" drops the user\'s file pre-approvals, but keeps managed ones', () => {
    const res = load({ user: { approvals: { preApproved: [{ kind: 'file', target: '/u' }, { kind: 'network', target: 'u.test' }] } }, managed: { approvals: { fileAccess: 'deny' } } });
    assert.deepEqual(res.policy.approvals.preApproved, [{ kind: 'network', target: 'u.test' }]);
    assert.equal(decideByPolicy(file('/u/x'), res.policy.approvals, '/h').kind, 'deny');
    const own = load({ user: { approvals: { fileAccess: 'deny', preApproved: [{ kind: 'file', target: '/u' }] } } });
    assert.equal(decideByPolicy(file('/u/x'), own.policy.approvals, '/h').kind, 'allow', 'a user who denies file access may still pre-approve a folder');
    const it = load({ recommended: { approvals: { fileAccess: 'deny', preApproved: [{ kind: 'file', target: '/r' }] } } });
    assert.equal(decideByPolicy(file('/r/x'), it.policy.approvals, '/h').kind, 'allow');
  });
  test("a managed egress.allow drops the user's network pre-approvals (they would be the \"always\" the lock refuses)", () => {
    const res = load({ user: { approvals: { preApproved: [{ kind: 'network', target: 'u.test' }, { kind: 'file', target: '/u' }] } }, managed: { egress: { allow: [] } } });
    assert.deepEqual(res.policy.approvals.preApproved, [{ kind: 'file', target: '/u' }]);
  });
  test('malformed approvals entries stop the load, each naming its path and what to fix', () => {
    const paths = setup({});
    writeFileSync(join(paths.policyDir, 'managed', 'bad.json'), JSON.stringify({ approvals: { preApproved: [{ kind: 'file', target: 'relative/dir' }, { kind: 'network', target: '*' }, { kind: 'file', target: '~' }, { kind: 'network', target: 'a.test', write: true }, { kind: 'disk', target: '/x' }], neverAllow: [{ kind: 'file', target: '/a/../b' }], maxRequestsPerMinute: 0 } }));
    const res = loadPolicy(paths, { trustedKeys: [] });
    assert.equal(res.ok, false);
    if (res.ok) return;
    const by = new Map(res.issues.map((i) => [i.path, i.message]));
    assert.match(by.get('approvals.preApproved[0].target') ?? '', /must be an absolute path or start with "~\/"/);
    assert.match(by.get('approvals.preApproved[1].target') ?? '', /would allow every host/);
    assert.match(by.get('approvals.preApproved[2].target') ?? '', /whole home folder/);
    assert.match(by.get('approvals.preApproved[3].write') ?? '', /file entries only/);
    assert.ok(by.has('approvals.preApproved[4].kind'), JSON.stringify(res.issues));
    assert.match(by.get('approvals.neverAllow[0].target') ?? '', /without "\." or "\.\."/);
    assert.ok(by.has('approvals.maxRequestsPerMinute'));
  });
});

describe('signed managed policy', () => {
  const it = generateBundleKeyPair();
  const other = generateBundleKeyPair();
  const now = new Date();
  const day = 86_400_000;
  function deploy(paths: ReturnType<typeof resolveCordonPaths>, doc: unknown, serial: number, key = it.privateKeyPem, issued = now, expires = new Date(now.getTime() + 30 * day)): string {
    const signed = signBundle(doc, key, { serial, issuedAt: issued, expiresAt: expires });
    assert.ok(signed.ok);
    if (!signed.ok) return '';
    const file = join(paths.policyDir, 'managed', 'it.bundle.json');
    writeFileSync(file, signed.bundleText);
    writeFileSync(signatureFileFor(file), signed.signature);
    return file;
  }
  test('a valid bundle is accepted and reported as signed', () => {
    const paths = setup({});
    deploy(paths, { egress: { mode: 'report' } }, 1);
    const res = loadPolicy(paths, { trustedKeys: [it.publicKeyPem] });
    assert.ok(res.ok);
    if (res.ok) {
      assert.equal(res.policy.egress.mode, 'report');
      assert.equal(res.sources.find((s) => s.kind === 'managed')?.signed?.serial, 1);
    }
  });
  const refusals: Array<[string, (p: ReturnType<typeof resolveCordonPaths>) => void, RegExp]> = [
    ['tampered', (p) => {
      const f = deploy(p, { egress: { mode: 'enforce' } }, 1);
      writeFileSync(f, readFileSync(f, 'utf8').replace('enforce', 'report '));
    }, /bad_signature/],
    ['signed with an untrusted key', (p) => deploy(p, { egress: { mode: 'report' } }, 1, other.privateKeyPem), /untrusted_key/],
    ['expired', (p) => deploy(p, {}, 1, it.privateKeyPem, new Date(now.getTime() - 40 * day), new Date(now.getTime() - day)), /expired/],
    ['missing its signature', (p) => rmSync(signatureFileFor(deploy(p, {}, 1))), /signature file is missing/],
    ['unsigned while keys are trusted', (p) => writeFileSync(join(p.policyDir, 'managed', 'plain.json'), '{}'), /unsigned managed policy/],
  ];
  for (const [name, make, want] of refusals) {
    test(`a bundle ${name} stops launches, naming the file and the reason`, () => {
      const paths = setup({ user: { sandbox: { profile: 'strict' } } });
      make(paths);
      const res = loadPolicy(paths, { trustedKeys: [it.publicKeyPem] });
      assert.equal(res.ok, false);
      if (!res.ok) {
        assert.match(res.issues[0]?.source ?? '', /managed\//);
        assert.match(res.issues[0]?.message ?? '', want);
      }
    });
  }
  test('a rollback to an older serial is refused after a newer one was seen', () => {
    const paths = setup({});
    deploy(paths, { egress: { mode: 'report' } }, 5);
    assert.ok(loadPolicy(paths, { trustedKeys: [it.publicKeyPem] }).ok);
    deploy(paths, { egress: { mode: 'report' } }, 4);
    const res = loadPolicy(paths, { trustedKeys: [it.publicKeyPem] });
    assert.ok(!res.ok && /rollback/.test(res.issues[0]?.message ?? ''), JSON.stringify(res));
  });
  test('with no trusted key configured, unsigned managed policy is accepted', () => {
    const res = loadPolicy(setup({ managed: { egress: { mode: 'report' } } }), { trustedKeys: [] });
    assert.ok(res.ok && res.policy.egress.mode === 'report');
  });
});

describe('platform MDM channel', () => {
  test('mandatory and recommended documents from the OS channel take their levels; an unreadable channel stops the load', () => {
    const paths = setup({ user: { egress: { mode: 'report' }, sandbox: { profile: 'strict' } } });
    const res = loadPolicy(paths, {
      trustedKeys: [],
      platform: { name: 'fixture', read: () => ({ ok: true, mandatory: { egress: { mode: 'enforce' } }, recommended: { sandbox: { profile: 'standard' } } }) },
    });
    assert.ok(res.ok);
    if (res.ok) {
      assert.equal(res.policy.egress.mode, 'enforce');
      assert.equal(res.provenance.origins.get('egress.mode')?.kind, 'managed');
      assert.equal(res.policy.sandbox.profile, 'standard');
      assert.equal(res.provenance.origins.get('sandbox.profile')?.kind, 'recommended');
    }
    const broken = loadPolicy(paths, { trustedKeys: [], platform: { name: 'fixture', read: () => ({ ok: false, message: 'not a valid XML property list' }) } });
    assert.ok(!broken.ok && broken.issues[0]?.source === 'fixture');
  });
});

/**
 * Issue 18: the `gates` section merges like the rest: scalars from the
 * highest source (locked when managed), block lists joined so no source can
 * unblock what another blocks, documented defaults when unset.
 */
describe('gates section', () => {
  test('defaults: scan in, redact out, 1 MiB clipboard at 60 a minute, 64 MiB files, nothing blocked by type or label', () => {
    const r = loadPolicy(setup({}), { trustedKeys: [] });
    assert.ok(r.ok);
    assert.deepEqual(r.policy.gates, DEFAULT_POLICY.gates);
    assert.deepEqual(r.policy.gates, {
      clipboard: { toSandbox: 'scan', fromSandbox: 'redact', maxBytes: 1048576, ratePerMinute: 60 },
      dragDrop: { toSandbox: 'scan', fromSandbox: 'redact', maxBytes: 67108864, blockTypes: [], blockLabels: [] },
    });
  });

  test('managed beats user for each scalar and locks it; unset fields keep lower values', () => {
    const r = loadPolicy(setup({
      user: { gates: { clipboard: { toSandbox: 'allow', maxBytes: 4096 }, dragDrop: { fromSandbox: 'allow' } } },
      managed: { gates: { clipboard: { toSandbox: 'deny', ratePerMinute: 5 } } },
    }), { trustedKeys: [] });
    assert.ok(r.ok);
    assert.equal(r.policy.gates.clipboard.toSandbox, 'deny');
    assert.equal(r.policy.gates.clipboard.maxBytes, 4096, 'the user set it and nothing above did');
    assert.equal(r.policy.gates.clipboard.ratePerMinute, 5);
    assert.equal(r.policy.gates.dragDrop.fromSandbox, 'allow');
    assert.equal(r.provenance.locked.get('gates.clipboard.toSandbox')?.kind, 'managed');
    assert.equal(r.provenance.locked.has('gates.dragDrop.fromSandbox'), false);
  });

  test('block lists are joined across sources: a user cannot unblock what IT blocks', () => {
    const r = loadPolicy(setup({
      user: { gates: { dragDrop: { blockTypes: [], blockLabels: ['Personal'] } } },
      recommended: { gates: { dragDrop: { blockTypes: ['.EXE'] } } },
      managed: { gates: { dragDrop: { blockLabels: ['Confidential'], blockTypes: ['application/zip'] } } },
    }), { trustedKeys: [] });
    assert.ok(r.ok);
    assert.deepEqual([...r.policy.gates.dragDrop.blockTypes].sort(), ['.exe', 'application/zip']);
    assert.deepEqual([...r.policy.gates.dragDrop.blockLabels].sort(), ['Confidential', 'Personal']);
  });

  test('the schema keeps the staged keys and refuses unknown ones and bad values with their path', () => {
    assert.ok(PolicySchema.safeParse({ gates: { clipboard: { toSandbox: 'scan', fromSandbox: 'redact', maxBytes: 10 }, dragDrop: { toSandbox: 'ask', fromSandbox: 'deny' } } }).success);
    for (const bad of [
      { gates: { paste: {} } },
      { gates: { clipboard: { toSandbox: 'tokenize' } } },
      { gates: { clipboard: { ratePerMinute: 0 } } },
      { gates: { dragDrop: { blockTypes: ['exe'] } } },
      { gates: { dragDrop: { maxBytes: 2 * 1024 * 1024 * 1024 } } },
    ]) {
      assert.equal(PolicySchema.safeParse(bad).success, false, JSON.stringify(bad));
    }
    const r = loadPolicy(setup({ user: { gates: { dragDrop: { blockTypes: ['exe'] } } } }), { trustedKeys: [] });
    assert.ok(!r.ok);
    assert.match(r.issues.map((i) => i.path).join(' '), /gates\.dragDrop\.blockTypes\[0\]/);
  });
});
