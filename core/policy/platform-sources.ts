import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { macManagedPreferencesPath, readMacManagedPreferences, readWindowsRegExport, windowsRegExportArgs, WINDOWS_POLICY_KEY } from './mdm-sources.js';
import { policyJsonSchema } from './policy-json-schema.js';
import { policyLeaves } from './policy-leaves.js';
import type { PlatformPolicySource } from './policy-loader.js';

/**
 * The OS's own MDM channel for this platform: macOS managed preferences
 * (written by Jamf, Intune or any MDM from a .mobileconfig) or the Windows
 * policy registry key (Group Policy, Intune ADMX). Linux has none; its managed
 * policy is files in $CORDON_POLICY_DIR. A channel that exists but cannot be
 * read is an error (launches stop), never "no policy".
 */
export function platformPolicySource(platform: NodeJS.Platform = process.platform): PlatformPolicySource | null {
  if (platform === 'darwin') {
    const file = macManagedPreferencesPath();
    return {
      name: file,
      read: () => {
        if (!existsSync(file)) return null;
        const res = readMacManagedPreferences(readFileSync(file, 'utf8'));
        return res.ok ? { ok: true, mandatory: res.mandatory, recommended: res.recommended } : { ok: false, message: res.message };
      },
    };
  }
  if (platform === 'win32') {
    const name = `HKLM\\${WINDOWS_POLICY_KEY}`;
    return {
      name,
      read: () => {
        const dir = mkdtempSync(join(tmpdir(), 'cordon-reg-'));
        try {
          const out = join(dir, 'policy.reg');
          const r = spawnSync('reg', windowsRegExportArgs(out), { windowsHide: true });
          // reg export exits 1 when the key does not exist: no managed policy.
          if (r.status !== 0 || !existsSync(out)) return null;
          const res = readWindowsRegExport(readFileSync(out), policyLeaves(policyJsonSchema()).leaves);
          return res.ok ? { ok: true, mandatory: res.mandatory, recommended: res.recommended } : { ok: false, message: res.message };
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  }
  return null;
}
