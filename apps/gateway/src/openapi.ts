import 'reflect-metadata';
import { RequestMethod, type Type } from '@nestjs/common';
import { z } from 'zod';
import {
  AnomalyEventSchema,
  ControlMessageSchema,
  StreamSpecSchema,
  StreamStatusSchema,
  SummarySchema,
  TrackedObjectSchema,
} from '@vigil/contracts';
import { type RouteMeta, routeMeta } from './route-meta.js';

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
/** A closed object schema with one more (required) property. */
function withProperty(
  base: Record<string, unknown>,
  name: string,
  prop: object,
  description: string,
): Record<string, unknown> {
  const b = base as { properties?: Record<string, unknown>; required?: string[] };
  return {
    ...base,
    description,
    properties: { ...b.properties, [name]: prop },
    required: [...(b.required ?? []), name],
  };
}
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (s: object) => ({ 'application/json': { schema: s } });
const error = (description: string) => ({ description, content: json(ref('Error')) });
const page = (item: string) => ({
  type: 'object',
  required: ['items', 'nextCursor'],
  properties: { items: { type: 'array', items: ref(item) }, nextCursor: { type: ['string', 'null'] } },
});

/** Schemas documented once, as components, wherever a route takes them. */
const NAMED = new Map<z.ZodType, string>([[StreamSpecSchema, 'StreamSpec']]);

// Nest's own route metadata (PATH_METADATA, METHOD_METADATA in @nestjs/common/constants)
const NEST_PATH = 'path';
const NEST_METHOD = 'method';

const paths = (v: unknown): string[] =>
  Array.isArray(v) ? (v as string[]) : [typeof v === 'string' ? v : ''];
const join = (base: string, sub: string) =>
  '/' +
  [base, sub]
    .map((p) => p.replace(/^\/+|\/+$/g, ''))
    .filter(Boolean)
    .join('/')
    .replace(/:(\w+)/g, '{$1}');

/** One route's operation: its parameters and body from the schemas it validates with, its answers. */
function operation(
  meta: RouteMeta & { doc: NonNullable<RouteMeta['doc']> },
  verb: string,
  operationId: string,
) {
  const { doc } = meta;
  const access = doc.access ?? (['post', 'put', 'patch', 'delete'].includes(verb) ? 'write' : 'read');
  const parameters: object[] = Object.entries(meta.params).map(([name, s]) => ({
    name,
    in: 'path',
    required: true,
    schema: schema(s, 'input'),
  }));
  if (meta.query) {
    const q = schema(meta.query, 'input') as {
      properties?: Record<string, Record<string, unknown>>;
      required?: string[];
    };
    for (const [name, { description, ...s }] of Object.entries(q.properties ?? {}))
      parameters.push({
        name,
        in: 'query',
        required: q.required?.includes(name) ?? false,
        description,
        schema: s,
      });
  }
  const body = meta.body && {
    required: meta.body.required,
    content: json(
      NAMED.has(meta.body.schema) ? ref(NAMED.get(meta.body.schema)!) : schema(meta.body.schema, 'input'),
    ),
  };
  const responses: Record<string, object> = {};
  for (const [code, r] of Object.entries(doc.responses))
    responses[code] = {
      description: r.description,
      ...(r.media
        ? { content: { [r.media]: r.ref ? { schema: ref(r.ref) } : {} } }
        : r.ref
          ? { content: json(ref(r.ref)) }
          : r.schema
            ? { content: json(schema(r.schema)) }
            : Number(code) >= 400
              ? { content: json(ref('Error')) }
              : {}),
    };
  if (parameters.length || body)
    responses['400'] ??= error('A parameter or the body is wrong; the message names each wrong field');
  if (access !== 'public') {
    responses['401'] = error('No API key, or not a valid one');
    if (access === 'write') responses['403'] = error('A read key');
    responses['429'] = error('Too many requests for this key; retry after the time in retry-after');
  }
  return {
    operationId: doc.operationId ?? operationId,
    summary: doc.summary,
    ...(access === 'public' ? { security: [] } : {}),
    ...(parameters.length ? { parameters } : {}),
    ...(body ? { requestBody: body } : {}),
    responses,
  };
}

/**
 * The paths of the document, read off the controllers: Nest's route metadata gives method and path, the
 * route's @Route gives its summary, access and answers, and the validating decorators give the very schemas
 * the handler checks its query, path parameters and body with.
 */
export function documentedPaths(controllers: readonly Type[]): Record<string, Record<string, object>> {
  const out: Record<string, Record<string, object>> = {};
  for (const c of controllers) {
    const base = paths(Reflect.getMetadata(NEST_PATH, c));
    const proto = c.prototype as Record<string, unknown>;
    for (const name of Object.getOwnPropertyNames(proto)) {
      const fn = proto[name];
      if (name === 'constructor' || typeof fn !== 'function') continue;
      const method = Reflect.getMetadata(NEST_METHOD, fn) as RequestMethod | undefined;
      const meta = routeMeta(proto, name);
      if (method === undefined || !meta?.doc || meta.doc.hidden) continue;
      const verb = RequestMethod[method].toLowerCase();
      // e.g. StreamsController.list → streamsList: unique, stable, readable in a generated client
      const ctrl = c.name.replace(/Controller$/, '');
      const id = ctrl.charAt(0).toLowerCase() + ctrl.slice(1) + name.charAt(0).toUpperCase() + name.slice(1);
      for (const b of base)
        for (const p of paths(Reflect.getMetadata(NEST_PATH, fn)))
          (out[join(b, p)] ??= {})[verb] = operation({ ...meta, doc: meta.doc }, verb, id);
    }
  }
  return out;
}

/** The gateway's OpenAPI 3.1 document (served at /docs/json, browsable at /docs) for these controllers. */
export function openApiDocument(controllers: readonly Type[]) {
  const anomaly = schema(AnomalyEventSchema) as { properties: Record<string, unknown>; required: string[] };
  const { evidence: _e, ...anomalyProps } = anomaly.properties;
  const components = {
    StreamSpec: schema(StreamSpecSchema, 'input'),
    StreamStatus: schema(StreamStatusSchema),
    StreamSpecOut: schema(StreamSpecSchema),
    Summary: schema(SummarySchema),
    ControlMessage: schema(ControlMessageSchema),
  };
  const routes = documentedPaths(controllers); // first: the routes' schemas add to `shared`
  return {
    openapi: '3.1.0',
    info: {
      title: 'Vigil gateway',
      version: '1',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
      description:
        'Cameras, anomaly events and narrated summaries. Every route under /api and /events needs an API key in the x-api-key header (or Authorization: Bearer); write keys may change cameras. /health is open.',
    },
    servers: [{ url: '/', description: 'The gateway that serves this document' }],
    components: {
      securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' } },
      schemas: {
        ...shared,
        StreamSpec: components.StreamSpec,
        StreamStatus: components.StreamStatus,
        // one object, not allOf: the spec's schema is closed (additionalProperties: false), so an allOf
        // with a second schema adding `status` could never pass (every response failed it)
        Stream: withProperty(
          withProperty(
            components.StreamSpecOut,
            'status',
            { anyOf: [ref('StreamStatus'), { type: 'null' }], description: 'The latest status, if any' },
            '',
          ),
          'analyzed',
          {
            type: 'object',
            required: ['fps', 'lastAt'],
            additionalProperties: false,
            description:
              'How fast the analyzer scores this camera: samples a second over the last 20 s (below status.fpsOut when it sheds frames), and when it last did',
            properties: {
              fps: { type: 'number', minimum: 0 },
              lastAt: { type: ['string', 'null'], format: 'date-time' },
            },
          },
          'A camera: its spec (user info and query values masked in the URL), its latest status from ingest, and how fast the analyzer scores it',
        ),
        Anomaly: {
          ...anomaly,
          properties: {
            ...anomalyProps,
            evidenceUrl: { type: ['string', 'null'], description: 'The JPEG of the moment it was noticed' },
          },
        },
        Summary: components.Summary,
        ControlMessage: components.ControlMessage,
        StreamList: { type: 'object', properties: { items: { type: 'array', items: ref('Stream') } } },
        AnomalyPage: page('Anomaly'),
        SummaryPage: page('Summary'),
        LiveTicket: {
          type: 'object',
          required: ['path', 'expiresInS'],
          properties: {
            path: { type: 'string', description: 'WebSocket path to open, with its one-use ticket' },
            expiresInS: { type: 'integer' },
          },
        },
        Objects: {
          type: 'object',
          required: ['streamId', 'capturedAt', 'items'],
          properties: {
            streamId: { type: 'string' },
            capturedAt: { type: ['string', 'null'], description: 'The sample they were seen in' },
            items: { type: 'array', items: schema(TrackedObjectSchema) },
          },
        },
        SearchHit: {
          type: 'object',
          required: ['id', 'type', 'streamId', 'at', 'text', 'score', 'evidenceUrl'],
          properties: {
            id: { type: 'string', description: 'The summaryId or eventId' },
            type: { enum: ['summary', 'event'] },
            streamId: { type: 'string' },
            at: {
              type: 'string',
              format: 'date-time',
              description: 'A summary’s window end, an event’s start',
            },
            text: { type: 'string', description: 'What was searched: the narration, or the event in words' },
            score: { type: 'number', description: 'Cosine similarity to the query, -1 to 1' },
            evidenceUrl: {
              type: ['string', 'null'],
              description: 'A picture of the moment, when there is one',
            },
            level: { enum: ['window', 'minute', 'hour'] },
            windowStart: { type: 'string', format: 'date-time' },
            windowEnd: { type: 'string', format: 'date-time' },
            kind: { type: 'string', description: 'Events: the anomaly kind' },
            severity: { type: 'string' },
            phase: { type: 'string' },
          },
        },
        SearchResult: {
          type: 'object',
          required: ['query', 'hits', 'indexed', 'pending'],
          properties: {
            query: { type: 'string' },
            hits: { type: 'array', items: ref('SearchHit') },
            indexed: { type: 'integer', description: 'Summaries and events searchable now' },
            pending: {
              type: 'integer',
              description: 'Stored, not embedded yet (searchable within a second or so)',
            },
          },
        },
        AskAnswer: {
          type: 'object',
          required: ['question', 'answer', 'cited', 'hits', 'answeredBy'],
          properties: {
            question: { type: 'string' },
            answer: { type: 'string' },
            cited: {
              type: 'array',
              items: { type: 'string' },
              description: 'Ids of the hits the answer rests on',
            },
            hits: { type: 'array', items: ref('SearchHit') },
            answeredBy: {
              enum: ['model', 'hits'],
              description: 'model: VIGIL_ASK_URL’s model answered; hits: the ranked hits in words',
            },
            model: { type: 'string' },
            fallback: { type: 'string', description: 'Why the configured model did not answer' },
          },
        },
        Scores: {
          type: 'object',
          required: ['streamId', 'items'],
          properties: {
            streamId: { type: 'string' },
            items: {
              type: 'array',
              items: {
                type: 'object',
                required: ['at', 'score'],
                properties: { at: { type: 'integer', description: 'epoch ms' }, score: { type: 'number' } },
              },
            },
          },
        },
        SseEventData: {
          description:
            'The data of one GET /events message, by its event name: anomaly → Anomaly, summary → Summary, status → StreamStatus, stream → Stream without status (or {streamId, deleted: true}), reset → {reason}. Every message has an id to resume from with Last-Event-ID (docs/contracts.md).',
          anyOf: [
            ref('Anomaly'),
            ref('Summary'),
            ref('StreamStatus'),
            components.StreamSpecOut,
            {
              type: 'object',
              required: ['streamId', 'deleted'],
              properties: { streamId: { type: 'string' }, deleted: { const: true } },
            },
            { type: 'object', required: ['reason'], properties: { reason: { type: 'string' } } },
          ],
        },
        Health: {
          type: 'object',
          required: ['status'],
          additionalProperties: false,
          properties: {
            status: { enum: ['ok', 'unavailable'] },
            detail: { type: 'string', description: 'Why not ready, or what it is doing' },
          },
        },
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
    paths: routes,
  };
}
