import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Schema } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkers, type Workers } from '../../jobs/worker.js';
import { pidCollections, unregisteredPidModels } from '../../src/privacy/pid-registry.js';
import { createTestContext, type TestContext } from '../helpers/test-context.js';
import { seedDevice, settled } from './privacy-helpers.js';

/**
 * Access, export and erasure reach exactly the registered collections, so every place a pid can land must
 * be registered. Three nets: the models of a fully built container, the schemas in the source tree, and
 * the documents actually written after every feature has run.
 */
let ctx: TestContext;
let workers: Workers;
let app: { appId: string; ingest: { Authorization: string } };

beforeAll(async () => {
  ctx = await createTestContext();
  app = await ctx.createApp('com.privacy.registry');
  workers = startWorkers(ctx.container);
}, 60_000);
afterAll(async () => {
  await workers?.close();
  await ctx?.close();
});

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

describe('pid registry', () => {
  it('every model of a fully built container that holds a pid is registered', () => {
    expect(Object.keys(ctx.container.mongo.models).length).toBeGreaterThan(10);
    expect(unregisteredPidModels(ctx.container.mongo)).toEqual([]);
    expect(pidCollections(ctx.container.mongo).map((c) => c.collectionName)).toEqual(
      expect.arrayContaining(['events', 'devices', 'consents', 'device_consents', 'suppressions', 'rollout_exposures', 'privacy_requests', 'privacy_receipts']),
    );
  });

  it('the README record of processing lists exactly the registered collections, and which are kept on erasure', () => {
    const readme = readFileSync('README.md', 'utf8');
    const section = readme.slice(readme.indexOf('### Record of processing'));
    const rows = section
      .slice(0, section.indexOf('\n\n', section.indexOf('| collection |')))
      .split('\n')
      .filter((line) => /^\| `/.test(line))
      .map((line) => line.split('|').map((cell) => cell.trim()));
    const documented = new Map(rows.map((cells) => [cells[1]!.replace(/`/g, ''), cells[5]!]));
    const registered = pidCollections(ctx.container.mongo);
    expect([...documented.keys()].sort()).toEqual(registered.map((c) => c.collectionName).sort());
    for (const c of registered) expect(documented.get(c.collectionName)!.startsWith('kept'), c.collectionName).toBe(!!c.meta.keepOnErasure);
  });

  it('notices a model with a pid path that was never marked (the check can fail)', () => {
    const connection = ctx.container.mongo;
    connection.model('UnmarkedForTest', new Schema({ appId: String, subjectPid: String }));
    try {
      expect(unregisteredPidModels(connection)).toEqual(['UnmarkedForTest']);
    } finally {
      connection.deleteModel('UnmarkedForTest');
    }
  });

  it('every schema in src/ with a pid field is marked in its own file', () => {
    const missing: string[] = [];
    let schemas = 0;
    let parsed = 0;
    let withPid = 0;
    for (const file of sourceFiles('src')) {
      const text = readFileSync(file, 'utf8');
      schemas += text.split('new Schema').length - 1;
      for (const match of text.matchAll(/const (\w+) = new Schema(?:<[^>]*>)?\(\s*\{([\s\S]*?)\n\s*\},\s*\{/g)) {
        const [, name, body] = match;
        parsed++;
        if (!/^\s*(pid|\w+Pid|pids)\s*:/m.test(body!)) continue;
        withPid++;
        if (!text.includes(`markPidCollection(${name!},`)) missing.push(`${file}: ${name}`);
      }
    }
    // Every schema was read (a schema written another way would slip past), and the pid ones were found.
    expect(parsed).toBe(schemas);
    expect(withPid).toBeGreaterThanOrEqual(9);
    expect(missing).toEqual([]);
  });

  it('after every feature ran, no unregistered collection holds the device’s pid (nor its 24-character prefix)', async () => {
    await seedDevice(ctx, app.ingest, 'registry-device', 30);
    const pid = ctx.container.pseudonyms.pid(app.appId, 'registry-device');
    await ctx.http.post('/v1/update-check').set(app.ingest).send({ deviceId: 'registry-device', channel: 'production', platform: 'android', currentVersion: '1.2.0', nativeVersion: '1.0.0' });
    const exported = await ctx.http.post('/v1/privacy/requests').set(ctx.admin).send({ appId: app.appId, type: 'access', deviceId: 'registry-device', jurisdiction: 'gdpr' });
    await settled(ctx, exported.body.id as string);
    await ctx.container.privacy.retention.purge();

    const registered = new Set(pidCollections(ctx.container.mongo).map((c) => c.collectionName));
    const db = ctx.container.mongo.db!;
    const holders: string[] = [];
    for (const { name } of await db.listCollections().toArray()) {
      if (registered.has(name)) continue;
      for await (const doc of db.collection(name).find({})) {
        if (JSON.stringify(doc).includes(pid.slice(0, 24))) {
          holders.push(name);
          break;
        }
      }
    }
    expect(holders).toEqual([]);
  });
});
