import { z } from 'zod';
import {
  AnomalyEventSchema,
  ControlMessageSchema,
  StreamSpecSchema,
  StreamStatusSchema,
  SummarySchema,
} from '@vigil/contracts';

/** Schemas that other schemas point at (zod's `$defs`), gathered into components.schemas. */
const shared: Record<string, unknown> = {};

/** A zod schema as an OpenAPI 3.1 schema; its `$defs` move to the components, its refs follow them. */
const schema = (s: z.ZodType, io: 'input' | 'output' = 'output'): Record<string, unknown> => {
  const j = z.toJSONSchema(s, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  const text = JSON.stringify(j).replaceAll('"#/$defs/', '"#/components/schemas/');
  const {
    $schema: _s,
    $defs,
    $ref,
    ...rest
  } = JSON.parse(text) as Record<string, unknown> & {
    $defs?: Record<string, unknown>;
    $ref?: string;
  };
  const own = $ref?.replace('#/components/schemas/', '');
  for (const [name, def] of Object.entries($defs ?? {})) if (name !== own) shared[name] = def;
  return own && $defs?.[own]
    ? ($defs[own] as Record<string, unknown>)
    : { ...rest, ...($ref ? { $ref } : {}) };
};
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (s: object) => ({ 'application/json': { schema: s } });
const error = (description: string) => ({ description, content: json(ref('Error')) });
const errors = {
  '400': error('A parameter or the body is wrong; the message names each wrong field'),
  '401': error('No API key, or not a valid one'),
  '429': error('Too many requests for this key; retry after the time in retry-after'),
};
const q = (name: string, description: string, s: object = { type: 'string' }) => ({
  name,
  in: 'query',
  required: false,
  description,
  schema: s,
});
const idParam = {
  name: 'id',
  in: 'path',
  required: true,
  schema: { type: 'string' },
  description: 'Stream id',
};
const page = (item: string) => ({
  type: 'object',
  required: ['items', 'nextCursor'],
  properties: { items: { type: 'array', items: ref(item) }, nextCursor: { type: ['string', 'null'] } },
});
const paging = [
  q('since', 'RFC 3339 time or epoch ms (inclusive)'),
  q('until', 'RFC 3339 time or epoch ms (exclusive)'),
  q('limit', '1-500, default 50', { type: 'integer', minimum: 1, maximum: 500 }),
  q('cursor', 'nextCursor of the previous page'),
];

/** The gateway's OpenAPI 3.1 document (served at /docs/json, browsable at /docs). */
export function openApiDocument() {
  const anomaly = schema(AnomalyEventSchema) as { properties: Record<string, unknown>; required: string[] };
  const { evidence: _e, ...anomalyProps } = anomaly.properties;
  const components = {
    StreamSpec: schema(StreamSpecSchema, 'input'),
    StreamStatus: schema(StreamStatusSchema),
    StreamSpecOut: schema(StreamSpecSchema),
    Summary: schema(SummarySchema),
    ControlMessage: schema(ControlMessageSchema),
  };
  return {
    openapi: '3.1.0',
    info: {
      title: 'Vigil gateway',
      version: '1',
      description:
        'Cameras, anomaly events and narrated summaries. Every route under /api and /events needs an API key in the x-api-key header (or Authorization: Bearer); write keys may change cameras. /health is open.',
    },
    components: {
      securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' } },
      schemas: {
        ...shared,
        StreamSpec: components.StreamSpec,
        StreamStatus: components.StreamStatus,
        Stream: {
          allOf: [
            components.StreamSpecOut,
            { type: 'object', properties: { status: { anyOf: [ref('StreamStatus'), { type: 'null' }] } } },
          ],
        },
        Anomaly: {
          ...anomaly,
          properties: {
            ...anomalyProps,
            evidenceUrl: { type: ['string', 'null'], description: 'The JPEG of the moment it was noticed' },
          },
        },
        Summary: components.Summary,
        ControlMessage: components.ControlMessage,
        Error: {
          type: 'object',
          required: ['statusCode', 'message'],
          properties: {
            statusCode: { type: 'integer' },
            error: { type: 'string' },
            message: { type: 'string' },
            issues: {
              type: 'array',
              items: { type: 'string' },
              description: '`field: problem`, one per issue',
            },
          },
        },
      },
    },
    security: [{ apiKey: [] }],
    paths: {
      '/api/streams': {
        get: {
          summary: 'List cameras with their live status',
          responses: {
            '200': {
              description: 'Cameras',
              content: json({
                type: 'object',
                properties: { items: { type: 'array', items: ref('Stream') } },
              }),
            },
            ...errors,
          },
        },
        post: {
          summary: 'Add a camera (write key)',
          requestBody: { required: true, content: json(ref('StreamSpec')) },
          responses: {
            '201': { description: 'Added', content: json(ref('Stream')) },
            '403': error('A read key'),
            '409': error('A camera with this id exists'),
            '413': error('Body over the limit'),
            ...errors,
          },
        },
      },
      '/api/streams/{id}': {
        parameters: [idParam],
        get: {
          summary: 'One camera',
          responses: {
            '200': { description: 'The camera', content: json(ref('Stream')) },
            '404': error('No such camera'),
            ...errors,
          },
        },
        put: {
          summary: 'Replace a camera’s spec (write key)',
          requestBody: { required: true, content: json(ref('StreamSpec')) },
          responses: {
            '200': { description: 'Changed', content: json(ref('Stream')) },
            '404': error('No such camera'),
            ...errors,
          },
        },
        delete: {
          summary: 'Remove a camera (write key)',
          responses: { '204': { description: 'Removed' }, '404': error('No such camera'), ...errors },
        },
      },
      '/api/streams/{id}/summarize': {
        parameters: [idParam],
        post: {
          summary: 'Ask for a summary of the camera’s latest window now (write key)',
          requestBody: {
            required: false,
            content: json({
              type: 'object',
              properties: { reason: { type: 'string', maxLength: 200 } },
              additionalProperties: false,
            }),
          },
          responses: { '202': { description: 'Requested', content: json(ref('ControlMessage')) }, ...errors },
        },
      },
      '/api/streams/{id}/frame.jpg': {
        parameters: [idParam],
        get: {
          summary: 'The latest sampled frame',
          responses: {
            '200': { description: 'JPEG', content: { 'image/jpeg': {} } },
            '404': error('No frame yet'),
            ...errors,
          },
        },
      },
      '/api/streams/{id}/scores': {
        parameters: [idParam, q('since', 'RFC 3339 time or epoch ms; default 10 minutes ago')],
        get: {
          summary: 'Anomaly scores over time (1 is the alarm threshold)',
          responses: { '200': { description: 'Scores, oldest first' }, ...errors },
        },
      },
      '/api/anomalies': {
        get: {
          summary: 'Anomaly events, newest first, each at its latest phase',
          parameters: [
            q('streamId', 'Only this camera'),
            q('kind', 'Only this kind'),
            q('severity', 'info, warning or critical'),
            q('state', 'open or ended'),
            ...paging,
          ],
          responses: { '200': { description: 'A page', content: json(page('Anomaly')) }, ...errors },
        },
      },
      '/api/anomalies/{eventId}': {
        parameters: [
          { name: 'eventId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } },
        ],
        get: {
          summary: 'One anomaly event',
          responses: {
            '200': { description: 'The event', content: json(ref('Anomaly')) },
            '404': error('No such event'),
            ...errors,
          },
        },
      },
      '/api/anomalies/{eventId}/evidence.jpg': {
        parameters: [
          { name: 'eventId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } },
        ],
        get: {
          summary: 'The event’s evidence image',
          responses: {
            '200': { description: 'JPEG', content: { 'image/jpeg': {} } },
            '404': error('No image'),
            ...errors,
          },
        },
      },
      '/api/summaries': {
        get: {
          summary: 'Summaries, newest window end first',
          parameters: [q('streamId', 'Only this camera'), q('level', 'window, minute or hour'), ...paging],
          responses: { '200': { description: 'A page', content: json(page('Summary')) }, ...errors },
        },
      },
      '/events': {
        get: {
          summary: 'Server-Sent Events: anomaly, summary, status and stream events as they are stored',
          parameters: [
            q('types', 'Comma-separated: anomaly, summary, status, stream (default all)'),
            q('streamId', 'Only this camera'),
          ],
          responses: {
            '200': { description: 'text/event-stream', content: { 'text/event-stream': {} } },
            ...errors,
          },
        },
      },
      '/health/live': {
        get: { summary: 'The process is up', security: [], responses: { '200': { description: 'ok' } } },
      },
      '/health/ready': {
        get: {
          summary: 'Reading Kafka (in its consumer group)',
          security: [],
          responses: { '200': { description: 'ready' }, '503': { description: 'not ready' } },
        },
      },
    },
  };
}
