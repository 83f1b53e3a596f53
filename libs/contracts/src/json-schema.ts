import { z } from 'zod';
import { MESSAGE_SCHEMAS } from './schemas.js';

/** JSON Schema (draft 2020-12) text for each message schema, keyed by file name. */
export function generateJsonSchemas(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const [name, schema] of Object.entries(MESSAGE_SCHEMAS)) {
    const json = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'output', unrepresentable: 'any' });
    files[`${name}.v1.schema.json`] = JSON.stringify(json, null, 2) + '\n';
  }
  return files;
}
