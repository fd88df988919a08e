import assert from 'node:assert/strict';
import { test } from 'node:test';
import { alertNotice } from './alert-notice.js';

test('detection findings, export outages and quarantines notify; ordinary records and the neutralisation report do not', () => {
  assert.deepEqual(alertNotice({ kind: 'monitor.mass_change', severity: 'High', message: 'm' }), { level: 'error', message: 'Cordon alert: m' });
  assert.equal(alertNotice({ kind: 'audit.export_failed', severity: 'Medium', message: 'x' })?.level, 'warn');
  assert.ok(alertNotice({ kind: 'quarantine.contained', severity: 'High', message: 'q' }));
  assert.equal(alertNotice({ kind: 'egress.deny', severity: 'Medium', message: 'd' }), null);
  assert.equal(alertNotice({ kind: 'monitor.neutralised', severity: 'Medium', message: 'n' }), null);
});
