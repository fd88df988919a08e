import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideMount, type MountRuleContext } from './mount-rules.js';

const ctx: MountRuleContext = { home: '/home/ana', cordonHome: '/home/ana/.local/share/cordon', policyDeny: ['/srv/secrets'] };

const cases: Array<[string, string]> = [ // expected: 'allow' or the deny rule
  ['/home/ana/projects/app', 'allow'],
  ['/home/ana/projects', 'allow'],
  ['/tmp/work', 'allow'],
  ['/srv/data', 'allow'],
  ['/home/ana/.ssh', 'credential_store'],
  ['/home/ana/.ssh/keys', 'credential_store'],
  ['/home/ana/.aws', 'credential_store'],
  ['/home/ana/.config/gcloud/configurations', 'credential_store'],
  ['/home/ana/.config', 'credential_store'], // contains gcloud, gh, browser profiles
  ['/home/ana/.azure', 'credential_store'],
  ['/home/ana/.kube', 'credential_store'],
  ['/home/ana/.docker', 'credential_store'],
  ['/home/ana/.gnupg', 'credential_store'],
  ['/home/ana/.npmrc', 'credential_store'],
  ['/home/ana/.netrc', 'credential_store'],
  ['/home/ana/.git-credentials', 'credential_store'],
  ['/home/ana/.mozilla/firefox', 'credential_store'],
  ['/home/ana/.local/share/keyrings', 'credential_store'],
  ['/home/ana/.local', 'credential_store'], // contains keyrings and Cordon's state
  ['/home/ana/Library/Keychains', 'credential_store'],
  ['/home/ana', 'home_folder'],
  ['/home', 'credential_store'], // contains ~/.ssh
  ['/', 'system_area'],
  ['/etc', 'system_area'],
  ['/etc/ssl', 'system_area'],
  ['/var/lib', 'system_area'],
  ['/var/lib/docker/volumes', 'system_area'],
  ['/var/run', 'system_area'],
  ['/var', 'docker_socket'], // contains /var/run/docker.sock
  ['/proc', 'system_area'],
  ['/home/ana/.local/share/cordon', 'cordon_state'],
  ['/home/ana/.local/share/cordon/sessions', 'cordon_state'],
  ['/srv/secrets', 'policy_deny'],
  ['/srv/secrets/x', 'policy_deny'],
  ['/srv', 'policy_deny'],
  ['/home/ana/.sshkeys-backup', 'allow'], // a prefix of a name is not the folder
  ['/home/ana/projects/.ssh', 'allow'], // only the home folder's .ssh is a store
];

for (const [path, want] of cases) {
  test(`decideMount ${path} -> ${want}`, () => {
    const d = decideMount(path, ctx);
    if (want === 'allow') {
      assert.equal(d.kind, 'allow', d.kind === 'deny' ? d.message : '');
    } else {
      assert.equal(d.kind, 'deny');
      if (d.kind === 'deny') {
        assert.equal(d.reason, want);
        assert.ok(d.message.length > 10);
      }
    }
  });
}

test('a refusal message names the area it protects', () => {
  const d = decideMount('/home/ana/.aws', ctx);
  assert.ok(d.kind === 'deny' && d.message.includes('AWS credentials'), JSON.stringify(d));
  const h = decideMount('/home', ctx);
  assert.ok(h.kind === 'deny' && /contains .*\/home\/ana\/\.aws|contains/.test(h.message), JSON.stringify(h));
});

test('a workspace allowlist narrows what may be mounted; denies still win inside it', () => {
  const narrowed: MountRuleContext = { ...ctx, policyAllow: ['/home/ana/projects', '/srv'] };
  assert.equal(decideMount('/home/ana/projects/app', narrowed).kind, 'allow');
  assert.equal(decideMount('/home/ana/projects', narrowed).kind, 'allow');
  const outside = decideMount('/tmp/work', narrowed);
  assert.ok(outside.kind === 'deny' && outside.reason === 'not_in_allowlist' && outside.message.includes('/home/ana/projects'));
  const denied = decideMount('/srv/secrets', narrowed);
  assert.ok(denied.kind === 'deny' && denied.reason === 'policy_deny');
  const none = decideMount('/home/ana/projects', { ...ctx, policyAllow: [] });
  assert.ok(none.kind === 'deny' && none.reason === 'not_in_allowlist');
});
