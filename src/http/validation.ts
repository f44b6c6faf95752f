import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { RequestHandler } from 'express';
import { InvalidError } from '../errors.js';
import { listOperations, loadOpenApiDocument, type OpenApiDocument } from './openapi-document.js';

// ajv-formats ships CommonJS; under NodeNext its default export arrives wrapped.
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

type Schema = Record<string, unknown>;

interface ParameterDefinition {
  name: string;
  in: 'query' | 'path' | 'header' | 'cookie';
  required?: boolean;
  schema?: Schema;
}

export interface OperationValidator {
  body?: ValidateFunction;
  bodyRequired: boolean;
  query: ValidateFunction;
  params: ValidateFunction;
  queryTypes: Map<string, string>;
}

const LOCAL_REF = '#/components/schemas/';
const SHARED_ID = 'otaguard';

/** `#/components/schemas/X` → `otaguard#/$defs/X`, so each operation schema compiles on its own. */
function rewriteRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rewriteRefs);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    out[key] =
      key === '$ref' && typeof child === 'string' && child.startsWith(LOCAL_REF)
        ? `${SHARED_ID}#/$defs/${child.slice(LOCAL_REF.length)}`
        : rewriteRefs(child);
  }
  return out;
}

function resolveParameter(doc: OpenApiDocument, param: Record<string, unknown>): ParameterDefinition {
  const ref = param.$ref;
  if (typeof ref === 'string') {
    const name = ref.replace('#/components/parameters/', '');
    const components = doc.components as Record<string, Record<string, unknown>> | undefined;
    return components?.parameters?.[name] as ParameterDefinition;
  }
  return param as unknown as ParameterDefinition;
}

function objectSchemaFor(params: ParameterDefinition[]): Schema {
  return {
    type: 'object',
    additionalProperties: false,
    required: params.filter((p) => p.required).map((p) => p.name),
    properties: Object.fromEntries(params.map((p) => [p.name, rewriteRefs(p.schema ?? { type: 'string' })])),
  };
}

/** Compiles every operation's body, query and path schemas once, at start-up. */
export class RequestValidators {
  private readonly validators = new Map<string, OperationValidator>();
  private readonly components = new Map<string, ValidateFunction>();
  private readonly ajv: Ajv2020;

  constructor(doc: OpenApiDocument = loadOpenApiDocument()) {
    // No coercion: a number sent as a string is a client mistake, not something to guess at.
    const ajv = new Ajv2020({ allErrors: false, coerceTypes: false, strict: true, useDefaults: false });
    this.ajv = ajv;
    addFormats(ajv);
    for (const keyword of ['example', 'discriminator', 'xml', 'externalDocs']) ajv.addKeyword(keyword);
    ajv.addSchema({ $id: SHARED_ID, $defs: rewriteRefs(doc.components?.schemas ?? {}) });

    for (const op of listOperations(doc)) {
      const params = ((op.definition.parameters as Record<string, unknown>[] | undefined) ?? []).map((p) =>
        resolveParameter(doc, p),
      );
      const query = params.filter((p) => p.in === 'query');
      const path = params.filter((p) => p.in === 'path');
      const body = op.definition.requestBody as
        | { required?: boolean; content?: Record<string, { schema?: Schema }> }
        | undefined;
      const bodySchema = body?.content?.['application/json']?.schema;
      this.validators.set(op.operationId, {
        body: bodySchema ? ajv.compile(rewriteRefs(bodySchema) as Schema) : undefined,
        bodyRequired: body?.required === true,
        query: ajv.compile(objectSchemaFor(query)),
        params: ajv.compile(objectSchemaFor(path)),
        queryTypes: new Map(query.map((p) => [p.name, String(p.schema?.type ?? 'string')])),
      });
    }
  }

  get(operationId: string): OperationValidator {
    const validator = this.validators.get(operationId);
    if (!validator) throw new Error(`No operation ${operationId} in openapi/otaguard.yaml`);
    return validator;
  }

  /**
   * A validator for one `components.schemas` entry, with the same options as the operations. For parts of
   * a body checked one by one (ingest validates each event on its own, so one bad event is a reject, not a 400).
   */
  component(name: string): ValidateFunction {
    let validator = this.components.get(name);
    if (!validator) {
      validator = this.ajv.compile({ $ref: `${SHARED_ID}#/$defs/${name}` });
      this.components.set(name, validator);
    }
    return validator;
  }
}

function field(error: ErrorObject, location: string): string {
  const missing = error.keyword === 'required' ? `/${String(error.params.missingProperty)}` : '';
  const extra = error.keyword === 'additionalProperties' ? `/${String(error.params.additionalProperty)}` : '';
  const pointer = `${error.instancePath}${missing}${extra}`;
  const path = pointer.replace(/^\//, '').replace(/\//g, '.');
  return path ? `${location}.${path}` : location;
}

/** The first error as `{field, reason}`; `field` is `location` plus the dotted path (never the value). */
export function describeFirstError(location: string, errors: ErrorObject[] | null | undefined): { field: string; reason: string } {
  const first = errors?.[0];
  const where = first ? field(first, location) : location;
  const reason =
    first?.keyword === 'additionalProperties'
      ? 'is not an allowed field'
      : first?.keyword === 'required'
        ? 'is required'
        : (first?.message ?? 'is invalid');
  return { field: where, reason };
}

function fail(location: string, errors: ErrorObject[] | null | undefined): never {
  const { field: where, reason } = describeFirstError(location, errors);
  throw new InvalidError('validation_failed', `${where} ${reason}`, { field: where, reason });
}

/**
 * Query strings are always strings on the wire. Declared integers and booleans are converted only when
 * they are written exactly as such; anything else stays a string and fails validation.
 */
function typedQuery(raw: Record<string, unknown>, types: Map<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(raw)) {
    const type = types.get(name);
    if (typeof value !== 'string') {
      out[name] = value; // repeated or nested parameters are rejected by the schema
    } else if ((type === 'integer' || type === 'number') && /^-?\d+(\.\d+)?$/.test(value)) {
      out[name] = Number(value);
    } else if (type === 'boolean' && (value === 'true' || value === 'false')) {
      out[name] = value === 'true';
    } else {
      out[name] = value;
    }
  }
  return out;
}

export interface ValidatedRequest {
  body: unknown;
  query: Record<string, unknown>;
  params: Record<string, unknown>;
}

/** Validates body, query and path against the operation; the typed result is on `res.locals.input`. */
export function validate(validators: RequestValidators, operationId: string): RequestHandler {
  const validator = validators.get(operationId);
  return (req, res, next) => {
    const params = { ...req.params };
    if (!validator.params(params)) fail('path', validator.params.errors);
    const query = typedQuery(req.query as Record<string, unknown>, validator.queryTypes);
    if (!validator.query(query)) fail('query', validator.query.errors);
    const body: unknown = req.body;
    if (validator.body) {
      if (body === undefined) {
        if (validator.bodyRequired) {
          throw new InvalidError('validation_failed', 'body is required (Content-Type: application/json)', {
            field: 'body',
            reason: 'is required',
          });
        }
      } else if (!validator.body(body)) {
        fail('body', validator.body.errors);
      }
    }
    const input: ValidatedRequest = { body, query, params };
    res.locals.input = input;
    next();
  };
}
