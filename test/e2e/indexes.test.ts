import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { indexesToBuild, rawCollection, secondaryIndexesServeQueries, type IndexSpec } from '../../src/connections.js';
import { createTestContext, type TestContext } from '../helpers/test-context.js';

let ctx: TestContext;
let onFerretSqlite: boolean;

beforeAll(async () => {
  ctx = await createTestContext();
  const db = ctx.container.mongo.db!;
  const info = await db.admin().command({ buildInfo: 1 });
  const plan = (await db.command({ explain: { find: 'events', filter: {} } })).queryPlanner?.Plan as unknown;
  onFerretSqlite = typeof info.ferretdbVersion === 'string' && Array.isArray(plan) && String(plan[0]).startsWith('id=');
});

afterAll(async () => {
  await ctx.close();
});

describe('indexes', () => {
  it('knows which server reads secondary indexes', async () => {
    expect(await secondaryIndexesServeQueries(ctx.container.mongo.db!, 'events')).toBe(!onFerretSqlite);
  });

  it('builds every unique index, and the non-unique ones only where the server reads them', async () => {
    const models = Object.values(ctx.container.mongo.models);
    let unique = 0;
    let secondary = 0;
    for (const model of models) {
      const declared = model.schema.indexes() as IndexSpec[];
      const built = await rawCollection(model).indexes();
      const keysOf = (fields: Record<string, unknown>): string => JSON.stringify(fields);
      const builtKeys = new Set(built.map((index) => keysOf(index.key)));
      for (const [fields, options] of declared) {
        if (options.unique === true) unique++;
        else secondary++;
        expect(builtKeys.has(keysOf(fields)), `${model.collection.collectionName} ${keysOf(fields)}`).toBe(options.unique === true || !onFerretSqlite);
      }
    }
    // Both kinds are declared, so both branches above were exercised.
    expect(unique).toBeGreaterThan(0);
    expect(secondary).toBeGreaterThan(0);
    if (onFerretSqlite) expect(ctx.logs.some((line) => line.includes(`"skipped":${secondary}`))).toBe(true);
  });

  it('warns at start-up that FerretDB on SQLite is for development and tests, and only there', () => {
    const warned = ctx.logs.some((line) => line.includes('FerretDB on SQLite serves development and tests'));
    expect(warned).toBe(onFerretSqlite);
  });

  it('FerretDB on SQLite scans for a filter a secondary index covers, even when the index exists', async (context) => {
    if (!onFerretSqlite) context.skip();
    // The premise of leaving them out: should a FerretDB release start reading them, this fails.
    const collection = ctx.container.mongo.db!.collection('index_premise');
    await collection.insertOne({ _id: 'a:1', appId: 'a', pid: 'p' } as never);
    await collection.createIndex({ appId: 1, pid: 1 });
    const explained = await ctx.container.mongo.db!.command({ explain: { find: 'index_premise', filter: { appId: 'a', pid: 'p' } } });
    expect(explained.filterPushdown).toBe(false);
    expect(explained.queryPlanner.Plan).toEqual([expect.stringMatching(/detail=SCAN /)]);
  });
});

describe('indexesToBuild', () => {
  const declared: IndexSpec[] = [
    [{ appId: 1, pid: 1 }, {}],
    [{ hash: 1 }, { unique: true }],
    [{ appId: 1, occurredAt: 1 }, { background: true }],
  ];

  it('keeps every index where secondary indexes serve queries', () => {
    expect(indexesToBuild(declared, true)).toEqual(declared);
  });

  it('keeps only the unique ones where they do not', () => {
    expect(indexesToBuild(declared, false)).toEqual([[{ hash: 1 }, { unique: true }]]);
  });
});
