import 'reflect-metadata';
import { Body, Param, type PipeTransform, Query } from '@nestjs/common';
import { type z } from 'zod';
import { parseInput } from './validation.js';

/** Who may call a route: anyone (health), any valid key, or a write key only. */
export type Access = 'public' | 'read' | 'write';

/** A documented response: a component name (`#/components/schemas/<name>`), a zod schema, or a media type. */
export interface ResponseDoc {
  description: string;
  /** A component of the OpenAPI document, by name. */
  ref?: string;
  schema?: z.ZodType;
  /** Content type when it is not JSON (image/jpeg, text/event-stream). */
  media?: string;
}

export interface RouteDoc {
  summary: string;
  /** The operation's name for generated clients; default: the controller's name and the handler's. */
  operationId?: string;
  access?: Access;
  /** Success and route-specific failure answers; 400/401/403/429 are added from the inputs and access. */
  responses: Record<string, ResponseDoc>;
  /** Left out of the OpenAPI document (the catch-all for unknown paths). */
  hidden?: boolean;
}

/**
 * What one handler takes and answers. The validating decorators below record the very schema they
 * validate with, so the OpenAPI document (openapi.ts) is built from what the handlers check.
 */
export interface RouteMeta {
  doc?: RouteDoc;
  query?: z.ZodType;
  params: Record<string, z.ZodType>;
  body?: { schema: z.ZodType; required: boolean };
}

const KEY = Symbol('vigil:route');

function metaOf(target: object, method: string | symbol): RouteMeta {
  let m = Reflect.getOwnMetadata(KEY, target, method) as RouteMeta | undefined;
  if (!m) {
    m = { params: {} };
    Reflect.defineMetadata(KEY, m, target, method);
  }
  return m;
}

/** The route's recorded schemas and doc, if any (`proto` is the controller's prototype). */
export const routeMeta = (proto: object, method: string | symbol): RouteMeta | undefined =>
  Reflect.getOwnMetadata(KEY, proto, method) as RouteMeta | undefined;

/** Validates a request part with parseInput: a 400 whose message names each wrong field. */
class ZodPipe implements PipeTransform {
  constructor(
    private readonly schema: z.ZodType,
    private readonly where: string,
    private readonly absentAsUndefined = false,
  ) {}
  transform(value: unknown): unknown {
    return parseInput(this.schema, this.absentAsUndefined ? (value ?? undefined) : value, this.where);
  }
}

/** The route's summary, its access level and its answers. */
export const Route =
  (doc: RouteDoc): MethodDecorator =>
  (target, method) => {
    metaOf(target, method).doc = doc;
  };

/** The query string, validated by `schema` (a z.object: each key is documented as a parameter). */
export const ValidQuery =
  (schema: z.ZodType): ParameterDecorator =>
  (target, method, index) => {
    metaOf(target, method!).query = schema;
    Query(new ZodPipe(schema, 'query'))(target, method, index);
  };

/** A path parameter, validated by `schema`. */
export const ValidParam =
  (name: string, schema: z.ZodType): ParameterDecorator =>
  (target, method, index) => {
    metaOf(target, method!).params[name] = schema;
    Param(name, new ZodPipe(schema, name))(target, method, index);
  };

/** The JSON body, validated by `schema`; an optional body (none sent) is parsed as undefined. */
export const ValidBody =
  (schema: z.ZodType, opts: { required?: boolean } = {}): ParameterDecorator =>
  (target, method, index) => {
    const required = opts.required ?? true;
    metaOf(target, method!).body = { schema, required };
    Body(new ZodPipe(schema, 'body', !required))(target, method, index);
  };

/**
 * The body, raw, for a handler that validates it itself with `schema` after other checks (PUT checks the
 * id in the URL first, summarize that the camera exists); recorded for the document all the same.
 */
export const RawBody =
  (schema: z.ZodType, opts: { required?: boolean } = {}): ParameterDecorator =>
  (target, method, index) => {
    metaOf(target, method!).body = { schema, required: opts.required ?? true };
    Body()(target, method, index);
  };

/** The query string, raw, for a handler that validates it itself with `schema` after other checks. */
export const RawQuery =
  (schema: z.ZodType): ParameterDecorator =>
  (target, method, index) => {
    metaOf(target, method!).query = schema;
    Query()(target, method, index);
  };
