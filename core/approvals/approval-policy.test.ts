/**
 * decideByPolicy with plain values: deny before allow, path prefixes on
 * segment boundaries, host patterns and ports as egress.allow/deny read them,
 * workspace scopes, and read-only pre-approvals meeting write requests.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_POLICY, type EffectivePolicy, type NeverAllowEntry, type PreApproval } from '../policy/policy-schema.js';
import { decideByPolicy, type ApprovalPolicyRequest } from './approval-policy.js';

const HOME = '/home/ada';

function policy(p: { preApproved?: PreApproval[]; neverAllow?: NeverAllowEntry[]; fileAccess?: 'ask' | 'deny' } = {}): EffectivePolicy['approvals'] {
  return { ...DEFAULT_POLICY.approvals, ...p };
}
function file(target: string, write = false, sessionWorkspaces: string[] = ['/home/ada/proj']): ApprovalPolicyRequest {
  return { kind: 'file', target, write, sessionWorkspaces };
}
function net(target: string, sessionWorkspaces: string[] = ['/home/ada/proj']): ApprovalPolicyRequest {
  return { kind: 'network', target, write: false, sessionWorkspaces };
}
const kind = (req: ApprovalPolicyRequest, p: EffectivePolicy['approvals']): string => {
  const v = decideByPolicy(req, p, HOME);
  return v.kind === 'deny' ? `deny:${v.reason}` : v.kind === 'allow' ? `allow:${v.write ? 'rw' : 'ro'}` : 'ask';
};

describe('defaults', () => {
  test('the default policy asks about everything', () => {
    for (const r of [file('/etc/hosts'), file('/home/ada/x', true), net('example.com:443')]) assert.equal(kind(r, DEFAULT_POLICY.approvals), 'ask');
  });
  test('clipboard and file-transfer requests are always asked, whatever the lists say', () => {
    const p = policy({ fileAccess: 'deny', neverAllow: [{ kind: 'file', target: '/' }], preApproved: [{ kind: 'file', target: '/tmp', write: true }] });
    for (const k of ['clipboard', 'file-transfer'] as const) assert.equal(kind({ kind: k, target: '/tmp/x', write: true, sessionWorkspaces: [] }, p), 'ask');
  });
});

describe('file paths', () => {
  const pre = (target: string, write?: boolean): EffectivePolicy['approvals'] => policy({ preApproved: [{ kind: 'file', target, ...(write === undefined ? {} : { write }) }] });
  test('a folder covers itself and everything inside it, on segment boundaries only', () => {
    const p = pre('/data/shared');
    assert.equal(kind(file('/data/shared'), p), 'allow:ro');
    assert.equal(kind(file('/data/shared/a/b.txt'), p), 'allow:ro');
    assert.equal(kind(file('/data/sharedx'), p), 'ask', 'prefix confusion: /data/shared must not cover /data/sharedx');
    assert.equal(kind(file('/data/share'), p), 'ask');
    assert.equal(kind(file('/data'), p), 'ask', 'a parent is not covered by its child');
  });
  test('trailing slashes on either side do not change the answer', () => {
    assert.equal(kind(file('/data/shared/'), pre('/data/shared')), 'allow:ro');
    assert.equal(kind(file('/data/shared'), pre('/data/shared/')), 'allow:ro');
    assert.equal(kind(file('/data/sharedx'), pre('/data/shared/')), 'ask');
    assert.equal(kind(file('/data/shared/x'), pre('/data/shared//')), 'allow:ro');
  });
  test('"~/" expands to the home folder handed in, and only at the start', () => {
    assert.equal(kind(file('/home/ada/notes/todo.md'), pre('~/notes')), 'allow:ro');
    assert.equal(kind(file('/home/bob/notes/todo.md'), pre('~/notes')), 'ask');
    assert.equal(kind(file('/home/ada/notes'), pre('/srv/~/notes')), 'ask');
  });
  test('targets are realpaths: a target with "..", "." or empty segments, or a relative one, is refused, not resolved', () => {
    const p = pre('/data/shared', true);
    for (const t of ['/data/shared/../../etc/shadow', '/data/shared/./x', '/data/shared//x', 'data/shared/x', '', '~/x']) {
      const v = decideByPolicy(file(t), p, HOME);
      assert.equal(v.kind, 'deny', t);
      assert.equal(v.kind === 'deny' && v.reason, 'file_access_denied', t);
    }
  });
  test('"/" in neverAllow covers every path', () => {
    assert.equal(kind(file('/anything/at/all'), policy({ neverAllow: [{ kind: 'file', target: '/' }] })), 'deny:never_allow');
  });
  test('matching is case-sensitive: the policy must name the real case', () => {
    assert.equal(kind(file('/Data/Shared/x'), pre('/data/shared')), 'ask');
  });
});

describe('order: neverAllow, then pre-approvals, then fileAccess', () => {
  test('neverAllow beats a pre-approval of the same folder and of a folder around it', () => {
    const p = policy({ preApproved: [{ kind: 'file', target: '~', write: true }, { kind: 'file', target: '~/.ssh', write: true }], neverAllow: [{ kind: 'file', target: '~/.ssh' }] });
    const v = decideByPolicy(file('/home/ada/.ssh/id_ed25519'), p, HOME);
    assert.equal(v.kind, 'deny');
    assert.ok(v.kind === 'deny' && v.reason === 'never_allow' && v.message.includes('~/.ssh') && v.message.includes('/home/ada/.ssh/id_ed25519'), JSON.stringify(v));
    assert.equal(kind(file('/home/ada/.sshx'), p), 'allow:ro', 'neverAllow ~/.ssh does not cover ~/.sshx');
  });
  test('fileAccess "deny" refuses a file request no pre-approval answers, and lets a pre-approved one through', () => {
    const p = policy({ fileAccess: 'deny', preApproved: [{ kind: 'file', target: '/data/ro' }, { kind: 'file', target: '/data/rw', write: true }] });
    assert.equal(kind(file('/etc/passwd'), p), 'deny:file_access_denied');
    assert.equal(kind(file('/data/ro/a'), p), 'allow:ro');
    assert.equal(kind(file('/data/rw/a', true), p), 'allow:rw');
    const v = decideByPolicy(file('/data/ro/a', true), p, HOME);
    assert.ok(v.kind === 'deny' && v.reason === 'file_access_denied' && v.message.includes('"/data/ro" is read-only'), JSON.stringify(v));
  });
  test('fileAccess "deny" does not touch network requests', () => {
    assert.equal(kind(net('example.com:443'), policy({ fileAccess: 'deny' })), 'ask');
  });
});

describe('read and write', () => {
  const p = policy({ preApproved: [{ kind: 'file', target: '/data/ro' }, { kind: 'file', target: '/data/rw', write: true }] });
  test('a read-only pre-approval answers a read request, and a write request is asked (the user may still grant write)', () => {
    assert.equal(kind(file('/data/ro/x'), p), 'allow:ro');
    assert.equal(kind(file('/data/ro/x', true), p), 'ask');
  });
  test('a read-write pre-approval grants only what was asked', () => {
    assert.equal(kind(file('/data/rw/x', true), p), 'allow:rw');
    assert.equal(kind(file('/data/rw/x', false), p), 'allow:ro');
  });
  test('a later read-write entry answers a write request that an earlier read-only entry matched', () => {
    const both = policy({ preApproved: [{ kind: 'file', target: '/data' }, { kind: 'file', target: '/data/rw', write: true }] });
    assert.equal(kind(file('/data/rw/x', true), both), 'allow:rw');
  });
  test('the rule names the entry that matched', () => {
    const v = decideByPolicy(file('/data/rw/x', true), p, HOME);
    assert.deepEqual(v, { kind: 'allow', write: true, rule: 'approvals.preApproved file "/data/rw" (read-write)' });
  });
});

describe('workspace scope', () => {
  const p = policy({ preApproved: [{ kind: 'file', target: '/data/acme', workspaces: ['~/clients/acme', '/srv/acme'] }] });
  test('absent: every session; present: sessions with a workspace at or inside a scope folder', () => {
    assert.equal(kind(file('/data/acme/a', false, ['/home/ada/clients/acme']), p), 'allow:ro');
    assert.equal(kind(file('/data/acme/a', false, ['/tmp/x', '/home/ada/clients/acme/site']), p), 'allow:ro');
    assert.equal(kind(file('/data/acme/a', false, ['/srv/acme/']), p), 'allow:ro');
    assert.equal(kind(file('/data/acme/a', false, ['/home/ada/clients/acme-old']), p), 'ask', 'scope folders match on segment boundaries too');
    assert.equal(kind(file('/data/acme/a', false, ['/home/ada/clients']), p), 'ask', 'a workspace around the scope folder is not inside it');
    assert.equal(kind(file('/data/acme/a', false, []), p), 'ask');
    const v = decideByPolicy(file('/data/acme/a', false, ['/srv/acme']), p, HOME);
    assert.ok(v.kind === 'allow' && v.rule.endsWith('for sessions in ~/clients/acme, /srv/acme'), JSON.stringify(v));
  });
  test('a scoped network pre-approval', () => {
    const n = policy({ preApproved: [{ kind: 'network', target: 'api.acme.test', workspaces: ['/srv/acme'] }] });
    assert.equal(kind(net('api.acme.test:443', ['/srv/acme']), n), 'allow:ro');
    assert.equal(kind(net('api.acme.test:443', ['/srv/other']), n), 'ask');
  });
});

describe('network targets', () => {
  test('host patterns: "*.example.com" covers subdomains, not the apex nor look-alikes', () => {
    const p = policy({ preApproved: [{ kind: 'network', target: '*.example.com' }] });
    assert.equal(kind(net('api.example.com:443'), p), 'allow:ro');
    assert.equal(kind(net('a.b.example.com:80'), p), 'allow:ro');
    assert.equal(kind(net('example.com:443'), p), 'ask');
    assert.equal(kind(net('badexample.com:443'), p), 'ask');
    assert.equal(kind(net('example.com.evil.test:443'), p), 'ask');
  });
  test('ports: a pre-approval without a port covers 443 and 80 only; with one, that port only', () => {
    const p = policy({ preApproved: [{ kind: 'network', target: 'a.test' }, { kind: 'network', target: 'b.test:8443' }] });
    assert.equal(kind(net('a.test:443'), p), 'allow:ro');
    assert.equal(kind(net('a.test:80'), p), 'allow:ro');
    assert.equal(kind(net('a.test:22'), p), 'ask');
    assert.equal(kind(net('b.test:8443'), p), 'allow:ro');
    assert.equal(kind(net('b.test:443'), p), 'ask');
  });
  test('neverAllow without a port covers every port; with one, that port only', () => {
    const p = policy({ neverAllow: [{ kind: 'network', target: 'paste.test' }, { kind: 'network', target: 'db.test:5432' }], preApproved: [{ kind: 'network', target: 'paste.test:22' }, { kind: 'network', target: 'db.test' }] });
    assert.equal(kind(net('paste.test:22'), p), 'deny:never_allow', 'neverAllow beats a pre-approval naming that exact port');
    assert.equal(kind(net('paste.test:65000'), p), 'deny:never_allow');
    assert.equal(kind(net('db.test:5432'), p), 'deny:never_allow');
    assert.equal(kind(net('db.test:443'), p), 'allow:ro');
  });
  test('hosts compare normalised: case, a trailing dot and IP spellings', () => {
    const p = policy({ neverAllow: [{ kind: 'network', target: 'Paste.Test' }, { kind: 'network', target: '127.0.0.1' }, { kind: 'network', target: '[::1]' }] });
    assert.equal(kind(net('paste.test.:443'), p), 'deny:never_allow');
    assert.equal(kind(net('PASTE.test:443'), p), 'deny:never_allow');
    assert.equal(kind(net('0x7f000001:8080'), p), 'deny:never_allow');
    assert.equal(kind(net('[::1]:443'), p), 'deny:never_allow');
    assert.equal(kind(net('[0:0:0:0:0:0:0:1]:80'), p), 'deny:never_allow');
  });
  test('a network request never matches file entries, and a file request never matches network entries', () => {
    const p = policy({ neverAllow: [{ kind: 'file', target: '/' }], preApproved: [{ kind: 'network', target: 'a.test' }] });
    assert.equal(kind(net('a.test:443'), p), 'allow:ro');
    assert.equal(kind(file('/a.test'), policy({ preApproved: [{ kind: 'network', target: 'a.test' }] })), 'ask');
  });
  test('a target that is not host:port matches no entry and is asked', () => {
    const p = policy({ neverAllow: [{ kind: 'network', target: 'a.test' }], preApproved: [{ kind: 'network', target: 'b.test' }] });
    for (const t of ['b.test', 'b.test:0', 'b.test:99999', 'b test:443', '']) assert.equal(kind(net(t), p), 'ask', t);
  });
});
