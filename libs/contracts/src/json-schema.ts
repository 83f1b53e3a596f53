import { z } from 'zod';
import { AnomalyKindSchema, MESSAGE_SCHEMAS } from './schemas.js';

/**
 * The messages Vigil publishes for others to read. Their schemas follow the v1 growth rule
 * (docs/contracts.md): a consumer must accept fields it does not know and kinds added later, so the
 * published schema is open where the rule lets v1 grow. What Vigil reads (stream specs, control
 * requests, manifests, its own changelogs) stays closed: there a misspelt field is an error to report.
 */
export const PUBLISHED_MESSAGES: ReadonlySet<string> = new Set([
  'frame-meta',
  'stream-status',
  'anomaly-event',
  'summary',
  'score',
  'dead-letter',
]);

/** Enums that v1 may extend (new anomaly kinds): published as strings, the known values listed. */
const OPEN_ENUMS: ReadonlySet<unknown> = new Set([AnomalyKindSchema]);

/** JSON Schema (draft 2020-12) text for each message schema, keyed by file name. */
export function generateJsonSchemas(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const [name, schema] of Object.entries(MESSAGE_SCHEMAS)) {
    const open = PUBLISHED_MESSAGES.has(name);
    const json = z.toJSONSchema(schema, {
      target: 'draft-2020-12',
      io: 'output',
      unrepresentable: 'any',
      override: (ctx) => {
        if (!open) return;
        const j = ctx.jsonSchema as Record<string, unknown>;
        if (j.additionalProperties === false) delete j.additionalProperties;
        if (OPEN_ENUMS.has(ctx.zodSchema) && Array.isArray(j.enum)) {
          const known = j.enum as string[];
          delete j.enum;
          j.type = 'string';
          j.pattern = '^[a-z][a-z0-9_.]{0,63}$';
          j.description = `One of ${known.join(', ')} today; later v1 versions may add kinds, which a consumer treats as an anomaly of a kind it does not know (docs/contracts.md).`;
          j['x-known-values'] = known;
        }
      },
    });
    if (open)
      (json as Record<string, unknown>).$comment =
        'Published contract (v1): fields and kinds may be added within v1; consumers ignore what they do not know. Removing or renaming a field, or changing its meaning or type, is a new topic version. See docs/contracts.md.';
    files[`${name}.v1.schema.json`] = JSON.stringify(json, null, 2) + '\n';
  }
  return files;
}
