#!/usr/bin/env node
// Regenerates the JSON Schemas committed beside the files they describe, from
// the zod schemas in core/ (run after `npm run build`). A unit test fails when
// the committed copies are stale.
import { writeFileSync } from 'node:fs';
import { profileJsonSchema } from '../dist/core/profiles/profile-json-schema.js';

const root = new URL('..', import.meta.url);
writeFileSync(new URL('sandbox-profiles/profile.schema.json', root), JSON.stringify(profileJsonSchema(), null, 2) + '\n');
console.log('wrote sandbox-profiles/profile.schema.json');
