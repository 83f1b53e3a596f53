import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Controller, Get, Post } from '@nestjs/common';
import { z } from 'zod';
import { API_CONTROLLERS } from './gateway.module.js';
import { documentedPaths, openApiDocument } from './openapi.js';
import { AnomalyQuerySchema, SearchQuerySchema, SummaryQuerySchema } from './query-schemas.js';
import { Route, ValidBody, ValidQuery } from './route-meta.js';

type Op = {
  summary: string;
  security?: unknown[];
  parameters?: { name: string; in: string; required: boolean; description?: string; schema: object }[];
  requestBody?: { required: boolean; content: Record<string, { schema: Record<string, unknown> }> };
  responses: Record<string, unknown>;
};
const doc = openApiDocument(API_CONTROLLERS);
const paths = doc.paths as Record<string, Record<string, Op>>;
const op = (path: string, verb: string) => {
  const o = paths[path]?.[verb];
  assert.ok(o, `${verb.toUpperCase()} ${path} is documented`);
  return o;
};

test('the document lists every route the controllers serve, and no other', () => {
  const routes = Object.entries(paths)
    .flatMap(([p, ops]) => Object.keys(ops).map((v) => `${v.toUpperCase()} ${p}`))
    .sort();
  assert.deepEqual(routes, [
    'DELETE /api/streams/{id}',
    'GET /api/anomalies',
    'GET /api/anomalies/{eventId}',
    'GET /api/anomalies/{eventId}/evidence.jpg',
    'GET /api/search',
    'GET /api/streams',
    'GET /api/streams/{id}',
    'GET /api/streams/{id}/frame.jpg',
    'GET /api/streams/{id}/live',
    'GET /api/streams/{id}/objects',
    'GET /api/streams/{id}/scores',
    'GET /api/summaries',
    'GET /events',
    'GET /health/live',
    'GET /health/ready',
    'POST /api/ask',
    'POST /api/streams',
    'POST /api/streams/{id}/summarize',
    'PUT /api/streams/{id}',
  ]);
});

test('query parameters are the keys of the very schema the handler validates with', () => {
  for (const [path, s] of [
    ['/api/anomalies', AnomalyQuerySchema],
    ['/api/summaries', SummaryQuerySchema],
    ['/api/search', SearchQuerySchema],
  ] as const) {
    const params = op(path, 'get').parameters!.filter((p) => p.in === 'query');
    assert.deepEqual(params.map((p) => p.name).sort(), Object.keys(s.shape).sort());
    // every parameter optional but the search text
    assert.ok(
      params.every(
        (p) => (path === '/api/search' && p.name === 'q') === Boolean(p.required) && p.description,
      ),
      `${path}: required only where the schema needs it, and described: ${JSON.stringify(params)}`,
    );
  }
  const limit = op('/api/anomalies', 'get').parameters!.find((p) => p.name === 'limit')!;
  assert.equal((limit.schema as { type: string }).type, 'string', 'documented as sent: a string');
  const kind = op('/api/anomalies', 'get').parameters!.find((p) => p.name === 'kind')!;
  assert.ok((kind.schema as { enum: string[] }).enum.includes('lens_covered'), 'kinds from the contract');
  const id = op('/api/anomalies/{eventId}', 'get').parameters!.find((p) => p.in === 'path')!;
  assert.equal((id.schema as { format: string }).format, 'uuid');
});

test('access is documented as the guard applies it: health open, writes need a write key', () => {
  for (const p of ['/health/live', '/health/ready']) {
    assert.deepEqual(op(p, 'get').security, []);
    assert.equal(op(p, 'get').responses['401'], undefined);
  }
  for (const [p, v] of [
    ['/api/streams', 'post'],
    ['/api/streams/{id}', 'put'],
    ['/api/streams/{id}', 'delete'],
    ['/api/streams/{id}/summarize', 'post'],
  ] as const) {
    assert.ok(op(p, v).responses['403'], `${v} ${p} answers 403 to a read key`);
    assert.ok(op(p, v).responses['401']);
  }
  assert.equal(op('/api/streams', 'get').responses['403'], undefined);
  assert.ok(op('/api/streams', 'get').responses['401']);
  assert.deepEqual(op('/api/streams', 'post').requestBody?.content['application/json']?.schema, {
    $ref: '#/components/schemas/StreamSpec',
  });
  assert.equal(op('/api/streams/{id}/summarize', 'post').requestBody?.required, false);
});

test('every $ref in the document names a component it has', () => {
  const schemas = (doc.components as { schemas: Record<string, unknown> }).schemas;
  const refs = [...JSON.stringify(doc).matchAll(/"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]!);
  assert.ok(refs.length > 20);
  for (const r of new Set(refs)) assert.ok(schemas[r], `component ${r}`);
});

test('a new route is documented from its decorators: a changed schema changes the document', () => {
  @Controller('x')
  class Probe {
    @Get('items')
    @Route({ summary: 'items', responses: { '200': { description: 'ok' } } })
    items(
      @ValidQuery(z.object({ colour: z.enum(['red', 'blue']).optional().describe('Colour') })) q: unknown,
    ) {
      return q;
    }
    @Post('items')
    @Route({ summary: 'add', access: 'write', responses: { '201': { description: 'added' } } })
    add(@ValidBody(z.object({ n: z.number().int() })) b: unknown) {
      return b;
    }
    notARoute() {
      return 0;
    }
  }
  const p = documentedPaths([Probe]);
  assert.deepEqual(Object.keys(p), ['/x/items']);
  const get = p['/x/items']!.get as Op;
  assert.deepEqual(get.parameters, [
    {
      name: 'colour',
      in: 'query',
      required: false,
      description: 'Colour',
      schema: { type: 'string', enum: ['red', 'blue'] },
    },
  ]);
  assert.ok(get.responses['400'], 'inputs can be wrong');
  const post = p['/x/items']!.post as Op;
  assert.equal(
    (post.requestBody!.content['application/json']!.schema as { properties: { n: { type: string } } })
      .properties.n.type,
    'integer',
  );
  assert.ok(post.responses['403']);
});
