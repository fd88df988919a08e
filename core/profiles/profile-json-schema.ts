import { z } from 'zod';
import { ProfileSchema } from './profile-schema.js';

/** JSON Schema of sandbox profiles, generated from the zod schema so the two never drift. */
export function profileJsonSchema(): unknown {
  return z.toJSONSchema(ProfileSchema, { target: 'draft-2020-12', io: 'input' });
}
