import fc from 'fast-check';
import type { OpenApiDocument, OpenApiOperation } from '../../src/http/openapi-document.js';

type Schema = Record<string, unknown>;

/** Values shaped like NoSQL injection, prototype pollution or script payloads, tried in every field. */
export const INJECTIONS: readonly unknown[] = [
  { $gt: '' },
  { $ne: null },
  { $where: 'sleep(100) || true' },
  { $regex: '.*' },
  { $in: ['a', 'b'] },
  { $expr: { $eq: [1, 1] } },
  ['$gt', ''],
  '$where',
  '{"$gt": ""}',
  "'; return true; //",
  '__proto__',
  { __proto__: { polluted: 'yes' } },
  '<script>alert(1)</script>',
  '../../../../etc/passwd',
  '\u0000',
  'a'.repeat(5000),
  -1,
  1e308,
  null,
];

export const injection = fc.constantFrom(...INJECTIONS);

function resolve(schema: Schema, doc: OpenApiDocument): Schema {
  let current = schema;
  for (let i = 0; i < 10 && typeof current.$ref === 'string'; i++) {
    const name = current.$ref.replace('#/components/schemas/', '');
    current = (doc.components?.schemas?.[name] ?? {}) as Schema;
  }
  return current;
}

function mergeAllOf(schema: Schema, doc: OpenApiDocument): Schema {
  const parts = (schema.allOf as Schema[]).map((part) => resolve(part, doc));
  const properties: Record<string, Schema> = {};
  const required: string[] = [];
  for (const part of parts) {
    Object.assign(properties, (part.properties ?? {}) as Record<string, Schema>);
    required.push(...((part.required ?? []) as string[]));
  }
  return { type: 'object', properties, required };
}

function stringFor(schema: Schema): fc.Arbitrary<string> {
  const max = Math.min(Number(schema.maxLength ?? 40), 60);
  const min = Number(schema.minLength ?? 0);
  if (schema.format === 'date-time') return fc.date({ min: new Date('2020-01-01'), max: new Date('2030-01-01'), noInvalidDate: true }).map((d) => d.toISOString());
  if (schema.format === 'uuid') return fc.uuid();
  if (schema.format === 'uri') return fc.constantFrom('https://example.com/hook', 'http://127.0.0.1:1/x', 'https://example.org/b.zip');
  if (typeof schema.pattern === 'string') {
    return fc.stringMatching(new RegExp(schema.pattern)).filter((s) => s.length >= min && s.length <= Number(schema.maxLength ?? 200));
  }
  return fc.string({ minLength: min, maxLength: Math.max(min, max) });
}

/** An arbitrary that mostly produces values the schema accepts, so fuzzing reaches past validation. */
export function arbitraryFor(input: Schema | undefined, doc: OpenApiDocument, depth = 0): fc.Arbitrary<unknown> {
  if (!input) return fc.jsonValue();
  let schema = resolve(input, doc);
  if (depth > 6) return fc.constant(null);
  if (Array.isArray(schema.allOf)) schema = mergeAllOf(schema, doc);
  const variants = (schema.oneOf ?? schema.anyOf) as Schema[] | undefined;
  if (variants) return fc.oneof(...variants.map((v) => arbitraryFor(v, doc, depth + 1)));
  if (Array.isArray(schema.enum)) return fc.constantFrom(...(schema.enum as unknown[]));
  if ('const' in schema) return fc.constant(schema.const);
  const type = Array.isArray(schema.type) ? fc.constantFrom(...(schema.type as string[])) : fc.constant(schema.type);
  return type.chain((t): fc.Arbitrary<unknown> => {
    switch (t) {
      case 'string':
        return stringFor(schema);
      case 'integer':
        return fc.integer({
          min: schema.exclusiveMinimum !== undefined ? Math.floor(Number(schema.exclusiveMinimum)) + 1 : Number(schema.minimum ?? -1_000_000),
          max: schema.exclusiveMaximum !== undefined ? Math.ceil(Number(schema.exclusiveMaximum)) - 1 : Number(schema.maximum ?? 1_000_000),
        });
      case 'number':
        return fc.double({
          min: Number(schema.exclusiveMinimum ?? schema.minimum ?? -1e9),
          max: Number(schema.exclusiveMaximum ?? schema.maximum ?? 1e9),
          minExcluded: schema.exclusiveMinimum !== undefined,
          maxExcluded: schema.exclusiveMaximum !== undefined,
          noNaN: true,
          noDefaultInfinity: true,
        });
      case 'boolean':
        return fc.boolean();
      case 'null':
        return fc.constant(null);
      case 'array': {
        const minLength = Number(schema.minItems ?? 0);
        return fc.array(arbitraryFor(schema.items as Schema | undefined, doc, depth + 1), {
          minLength,
          maxLength: Math.max(minLength, Math.min(Number(schema.maxItems ?? 4), 4)),
        });
      }
      case 'object': {
        const properties = (schema.properties ?? {}) as Record<string, Schema>;
        if (Object.keys(properties).length === 0) return fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 });
        const record = Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, arbitraryFor(v, doc, depth + 1)]));
        return fc.record(record, { requiredKeys: ((schema.required ?? []) as string[]).filter((k) => k in properties) });
      }
      default:
        return fc.jsonValue({ maxDepth: 3 });
    }
  });
}

/** Replaces one field of an object (at any depth) with an injection-shaped or arbitrary value. */
export function mutate(value: unknown): fc.Arbitrary<unknown> {
  if (value === null || typeof value !== 'object') return fc.oneof(injection, fc.jsonValue({ maxDepth: 2 }));
  const keys = Object.keys(value as object);
  if (keys.length === 0) return fc.constant(value);
  return fc.constantFrom(...keys).chain((key) =>
    fc.oneof(injection, fc.jsonValue({ maxDepth: 2 }), mutate((value as Record<string, unknown>)[key])).map((replacement) =>
      Array.isArray(value)
        ? value.map((item, i) => (String(i) === key ? replacement : item))
        : { ...(value as Record<string, unknown>), [key]: replacement },
    ),
  );
}

export function bodySchemaOf(op: OpenApiOperation): Schema | undefined {
  const body = op.definition.requestBody as { content?: Record<string, { schema?: Schema }> } | undefined;
  return body?.content?.['application/json']?.schema;
}

export interface ParameterSpec {
  name: string;
  in: string;
  schema?: Schema;
}

export function parametersOf(op: OpenApiOperation, doc: OpenApiDocument): ParameterSpec[] {
  const params = (op.definition.parameters ?? []) as Schema[];
  return params.map((p) => {
    if (typeof p.$ref === 'string') {
      const name = p.$ref.replace('#/components/parameters/', '');
      return ((doc.components as Record<string, Record<string, unknown>> | undefined)?.parameters?.[name] ?? {}) as ParameterSpec;
    }
    return p as unknown as ParameterSpec;
  });
}

/** A query string: declared parameters with valid, arbitrary or injection-shaped values, plus strangers. */
export function queryArbitrary(op: OpenApiOperation, doc: OpenApiDocument): fc.Arbitrary<Record<string, string>> {
  const declared = parametersOf(op, doc).filter((p) => p.in === 'query');
  const valueFor = (p: ParameterSpec) =>
    fc.oneof(
      { weight: 3, arbitrary: arbitraryFor(p.schema, doc).map((v) => (typeof v === 'string' ? v : JSON.stringify(v))) },
      { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
      { weight: 1, arbitrary: injection.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))) },
    );
  const known = fc.record(Object.fromEntries(declared.map((p) => [p.name, valueFor(p)])), { requiredKeys: [] });
  const strangers = fc.dictionary(
    fc.oneof(fc.string({ minLength: 1, maxLength: 10 }), fc.constantFrom(...declared.map((p) => `${p.name}[$gt]`), '$where', '__proto__')),
    fc.string({ maxLength: 20 }),
    { maxKeys: 2 },
  );
  return fc
    .tuple(known, fc.oneof({ weight: 3, arbitrary: fc.constant({}) }, { weight: 1, arbitrary: strangers }))
    .map(([a, b]) => {
      const out: Record<string, string> = { ...b };
      for (const [k, v] of Object.entries(a)) if (v !== undefined) out[k] = v;
      return out;
    });
}
