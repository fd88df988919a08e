/**
 * The workspace watcher and detection rules end to end (issue 20, items 3-4),
 * through bin/cordon against the real Docker Engine: an agent deleting 200
 * files raises an alert within 5 s; an agent planting a hook in a nested
 * repository raises an alert and the hook leaves the workspace at session
 * end; with monitoring.quarantineOnAlert the session quarantines itself.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { chownTree, collect, eventually, purgeQuarantines, TestEnv } from './test-harness.js';

const t = new TestEnv('monitor');
after(async () => {
  // What quarantine kept (containers and images) goes with the test's quarantine records.
  await purgeQuarantines(t);
  t.cleanup();
});

function policy(monitoring: Record<string, unknown>): void {
  writeFileSync(join(t.cordonHome, 'policy.json'), JSON.stringify({ monitoring }));
}

describe('workspace watcher', () => {
  test('an agent deleting 200 files: a mass-change alert within 5 s', { timeout: 120_000 }, async () => {
    policy({ massChange: { count: 100, seconds: 10 } });
    const ws = t.workspace('ws-mass');
    for (let i = 0; i < 200; i++) {
      writeFileSync(join(ws, `f${i}.txt`), `file ${i}\n`);
      chownTree(join(ws, `f${i}.txt`));
    }
    const r = await t.run(['exec', '--workspace', ws, '--', 'sh', '-c', `sleep 1; date +%s%3N; rm -f ${ws}/f*.txt; sleep 6`]);
    assert.equal(r.code, 0, r.stderr);
    const deletedAt = Number(r.stdout.trim().split('\n')[0]);
    assert.equal(readdirSync(ws).length, 0);
    const alert = t.auditRecords().find((x) => x.cordon['kind'] === 'monitor.mass_change');
    assert.ok(alert, 'mass_change alerted');
    assert.equal(alert['class_uid'], 2004, 'an OCSF Detection Finding');
    const after = Number(alert['time']) - deletedAt;
    process.stderr.write(`# mass change: alert ${after} ms after the deletions started\n`);
    assert.ok(after >= 0 && after <= 5000, `alert ${after} ms after the deletions`);
  });

  test('a burst of refused egress from a real agent: one egress-denial alert from the rules over the proxy\'s records', { timeout: 120_000 }, async () => {
    policy({ egressDenials: { count: 10, seconds: 60 } });
    const ws = t.workspace('ws-egress');
    const r = await t.run(['exec', '--workspace', ws, '--', 'sh', '-c', 'for i in $(seq 15); do curl -s -m 3 -o /dev/null https://exfil.invalid/; done; echo done']);
    assert.equal(r.code, 0, r.stderr);
    const denials = t.auditRecords().filter((x) => x.cordon['kind'] === 'egress.deny');
    assert.ok(denials.length >= 10, `${denials.length} denials`);
    const alerts = t.auditRecords().filter((x) => x.cordon['kind'] === 'monitor.egress_denial_burst');
    assert.equal(alerts.length, 1, 'one alert for the burst, not one per denial');
    assert.equal(alerts[0]?.['class_uid'], 2004);
  });

  test('a hook planted in a nested repository: alerted, and neutralised at session end with a report', { timeout: 120_000 }, async () => {
    policy({});
    const ws = t.workspace('ws-hook');
    const plant = `mkdir -p ${ws}/sub/.git/hooks && printf '#!/bin/sh\\necho pwned\\n' > ${ws}/sub/.git/hooks/post-checkout && chmod +x ${ws}/sub/.git/hooks/post-checkout && printf '[core]\\n\\tfsmonitor = ./x.sh\\n' > ${ws}/sub/.git/config && echo keep > ${ws}/notes.txt && sleep 2`;
    const r = await t.run(['exec', '--workspace', ws, '--', 'sh', '-c', plant]);
    assert.equal(r.code, 0, r.stderr);
    const found = t.auditRecords().filter((x) => x.cordon['kind'] === 'monitor.sensitive_file').map((x) => String(x.cordon['path']));
    assert.ok(found.includes('sub/.git/hooks/post-checkout'), found.join(','));
    assert.ok(found.includes('sub/.git/config'), found.join(','));
    assert.ok(!existsSync(join(ws, 'sub/.git/hooks/post-checkout')), 'the hook left the workspace');
    assert.ok(!existsSync(join(ws, 'sub/.git/config')), 'the risky config left the workspace');
    assert.ok(existsSync(join(ws, 'notes.txt')), 'ordinary files stay');
    const neutralised = t.auditRecords().find((x) => x.cordon['kind'] === 'monitor.neutralised');
    assert.ok(neutralised);
    const dir = String(neutralised.cordon['dir']);
    assert.ok(dir.startsWith(join(t.cordonHome, 'evidence')));
    assert.equal(readFileSync(join(dir, '0', 'sub', '.git', 'hooks', 'post-checkout'), 'utf8'), '#!/bin/sh\necho pwned\n');
    const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as { restore: string[] };
    assert.ok(report.restore.some((c) => c.includes('post-checkout')));
  });

  test('a policy reload mid-session changes the thresholds and the sensitive-file list the running session is judged by, and is audited', { timeout: 120_000 }, async () => {
    policy({ massChange: { count: 1000, seconds: 30 } });
    const ws = t.workspace('ws-reload');
    for (const p of ['a', 'b']) {
      for (let i = 0; i < 60; i++) {
        writeFileSync(join(ws, `${p}${i}.txt`), `file ${i}\n`);
        chownTree(join(ws, `${p}${i}.txt`));
      }
    }
    // Before the change: 60 deletions (under 1000) and a file no list names; after it: 60 more and the newly listed name.
    // Earlier tests in this file share the log: only this session's records count.
    const from = t.auditRecords().length;
    const mine = (): Array<Record<string, unknown> & { cordon: Record<string, unknown> }> => t.auditRecords().slice(from);
    const script = `sleep 1; rm -f ${ws}/a*.txt; echo x > ${ws}/deploy.token; touch ${ws}/phase-a; while [ ! -f ${ws}/go ]; do sleep 0.1; done; rm -f ${ws}/b*.txt; echo y > ${ws}/release.token; sleep 3`;
    const child = t.spawn(['exec', '--workspace', ws, '--', 'sh', '-c', script]);
    const done = collect(child, undefined, 90_000);
    assert.ok(await eventually(() => existsSync(join(ws, 'phase-a')), 60_000), 'the agent ran its first phase');
    await new Promise((r) => setTimeout(r, 1500));
    const alerts = (): Array<Record<string, unknown> & { cordon: Record<string, unknown> }> => mine().filter((x) => x.cordon['kind'] === 'monitor.mass_change' || x.cordon['kind'] === 'monitor.sensitive_file');
    assert.deepEqual(alerts(), [], 'nothing alerts under the policy the session started with');
    policy({ massChange: { count: 50, seconds: 30 }, sensitiveFiles: ['release.token'] });
    assert.ok(await eventually(() => mine().some((x) => x.cordon['kind'] === 'policy.reloaded' && (x.cordon['changed'] as string[]).includes('monitoring.massChange.count')), 15_000), 'the reload reached the session');
    writeFileSync(join(ws, 'go'), '');
    const r = await done;
    assert.equal(r.code, 0, r.stderr);
    const reload = mine().find((x) => x.cordon['kind'] === 'policy.reloaded');
    assert.ok(reload);
    assert.deepEqual((reload.cordon['monitoring'] as { massChange: unknown }).massChange, { count: 50, seconds: 30 }, 'the audited reload shows the thresholds now in force');
    assert.ok((reload.cordon['changed'] as string[]).includes('monitoring.sensitiveFiles'));
    const mass = alerts().find((x) => x.cordon['kind'] === 'monitor.mass_change');
    assert.ok(mass, 'the new mass-change threshold applied to the running session');
    assert.ok(Number(mass['time']) >= Number(reload['time']), 'the alert came after the reload');
    const sensitive = alerts().filter((x) => x.cordon['kind'] === 'monitor.sensitive_file').map((x) => String(x.cordon['path']));
    assert.deepEqual(sensitive, ['release.token'], 'the newly listed file alerts; the earlier one, never listed, does not');
    assert.ok(!existsSync(join(ws, 'release.token')), 'and is neutralised at session end');
    assert.ok(existsSync(join(ws, 'deploy.token')));
  });

  test('monitoring.quarantineOnAlert: the planted hook quarantines the session by itself', { timeout: 120_000 }, async () => {
    policy({ quarantineOnAlert: true });
    const ws = t.workspace('ws-auto');
    const started = Date.now();
    const r = await t.run(['exec', '--workspace', ws, '--', 'sh', '-c', `sleep 1; mkdir -p ${ws}/dep/.git/hooks && echo x > ${ws}/dep/.git/hooks/pre-push; sleep 60`]);
    assert.equal(r.code, 125, r.stderr);
    assert.match(r.stderr, /quarantined by a detection rule/);
    assert.ok(Date.now() - started < 40_000, 'ended long before its sleep');
    const ev = t.auditRecords().find((x) => x.cordon['kind'] === 'quarantine.evidence');
    assert.ok(ev && existsSync(String(ev.cordon['bundle'])));
    assert.ok(!existsSync(join(ws, 'dep/.git/hooks/pre-push')), 'neutralised after the quarantine too');
  });
});
