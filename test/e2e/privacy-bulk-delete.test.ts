import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectIdLookup } from '../../src/ingest/id-lookup.js';
import { deleteAllMatching, deleteIdRanges, FERRETDB_DELETE_RANGE, matchingIds } from '../../src/privacy/bulk-delete.js';
import { createTestContext, type TestContext } from '../helpers/test-context.js';

/** Erasure and retention delete through deleteAllMatching; FerretDB cannot delete more than 32,766 at once. */
let ctx: TestContext;
const col = () => ctx.container.mongo.db!.collection('bulk_delete_test');

async function fill(pid: string, count: number, offset: number): Promise<void> {
  for (let start = 0; start < count; start += 10_000) {
    const docs = Array.from({ length: Math.min(10_000, count - start) }, (_, i) => ({ _id: `x:${(offset + start + i).toString(36).padStart(6, '0')}`, appId: 'a', pid }));
    await col().insertMany(docs as never[], { ordered: false });
  }
}

beforeAll(async () => {
  ctx = await createTestContext();
});
afterAll(async () => {
  await ctx?.close();
});

describe('deleteAllMatching', () => {
  it('deletes in _id ranges when more matches are expected than one range holds', async () => {
    await fill('many', 95, 0);
    await fill('other', 40, 1000);
    const ids = await matchingIds(col(), { appId: 'a', pid: 'many' });
    expect(ids).toHaveLength(95);
    expect(await deleteIdRanges(col(), { appId: 'a', pid: 'many' }, ids, 10)).toBe(95);
    expect(await col().countDocuments({ pid: 'many' })).toBe(0);
    expect(await col().countDocuments({ pid: 'other' })).toBe(40);
  });

  it('on FerretDB, falls back to ranges when a single deleteMany exceeds the SQLite variable limit', async () => {
    const ferret = (await detectIdLookup(ctx.container.mongo)) === 'each';
    await fill('huge', 33_000, 10_000);
    if (ferret) {
      await expect(col().deleteMany({ appId: 'a', pid: 'huge' })).rejects.toThrow(/too many SQL variables/);
      expect(await col().countDocuments({ pid: 'huge' })).toBe(33_000);
    }
    expect(await deleteAllMatching(col(), { appId: 'a', pid: 'huge' }, FERRETDB_DELETE_RANGE)).toBe(33_000);
    expect(await col().countDocuments({ pid: 'huge' })).toBe(0);
    expect(await col().countDocuments({ pid: 'other' })).toBe(40);
  }, 120_000);
});
