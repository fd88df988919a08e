import { z } from 'zod';
import { PolicySchema } from './policy-schema.js';

/** JSON Schema of the policy file, generated from the zod schema (`cordon policy schema`). */
export function policyJsonSchema(): unknown {
  return z.toJSONSchema(PolicySchema, { target: 'draft-2020-12', io: 'input' });
}
