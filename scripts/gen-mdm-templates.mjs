#!/usr/bin/env node
// Regenerates the MDM templates in build/mdm/ (ADMX/ADML, .mobileconfig, Linux
// example) from the policy schema. Run after a build:
//
//   npx tsc -p tsconfig.json && node scripts/gen-mdm-templates.mjs
//
// core/policy/mdm-templates.test.ts fails while the committed files differ from
// what this writes, so a schema change cannot leave the templates behind.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MDM_TEMPLATE_FILES, cordonTemplateInputs, generateMdmTemplates } from '../dist/core/policy/mdm-templates.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const files = generateMdmTemplates(cordonTemplateInputs());
for (const [name, rel] of Object.entries(MDM_TEMPLATE_FILES)) {
  const target = `${root}${rel}`;
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, files[name]);
  console.log(`wrote ${rel}`);
}
