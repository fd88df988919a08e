import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// The relay's data paths (splice and read/send) checked byte for byte in real
// containers under runc and gVisor. Session tests move curl-sized payloads;
// a gVisor splice defect showed only past the first 64 KiB, so this moves MiB
// each way, and both ways at once (sandbox-profiles/relay/relay-runtime-check.sh).
test('bulk bytes cross the in-sandbox relay intact both ways, under runc and under gVisor, with and without splice (both ways under runc)', () => {
  const script = fileURLToPath(new URL('../../../sandbox-profiles/relay/relay-runtime-check.sh', import.meta.url));
  const r = spawnSync('sh', [script, 'cordon/agent:1', 'runc', 'runsc'], { encoding: 'utf8', env: { ...process.env, MIB: '32' }, timeout: 240_000 });
  const out = `${r.stdout}\n${r.stderr}`;
  assert.equal(r.status, 0, out.slice(-2000));
  for (const rt of ['runc', 'runsc']) {
    for (const mode of ['default', 'off']) assert.match(out, new RegExp(`== ${rt}, CORDON_RELAY_SPLICE=${mode}`));
  }
  // Both ways (what a runc session asks for) is checked under runc only.
  assert.match(out, /== runc, CORDON_RELAY_SPLICE=both/);
  assert.doesNotMatch(out, /== runsc, CORDON_RELAY_SPLICE=both/);
  assert.doesNotMatch(out, /FAILED/);
});
