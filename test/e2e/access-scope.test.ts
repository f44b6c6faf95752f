import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../helpers/test-context.js';

/**
 * Channel scope where the channel is known only after a lookup: a rollout addressed by id. The router
 * authorizes the app before the lookup; the service must then refuse a rollout on a channel outside the
 * key's scope, and never change it.
 */
let ctx: TestContext;
let appId: string;
const rolloutIds: Record<string, string> = {};

async function key(body: Record<string, unknown>): Promise<{ Authorization: string }> {
  const res = await ctx.http.post('/v1/api-keys').set(ctx.admin).send(body);
  if (res.status !== 201) throw new Error(`key: ${res.status} ${JSON.stringify(res.body)}`);
  return { Authorization: `Bearer ${res.body.key}` };
}

beforeAll(async () => {
  ctx = await createTestContext();
  ({ appId } = await ctx.createApp('com.scope.app'));
  for (const [version, sha] of [['1.0.0', 'a'], ['1.1.0', 'b']] as const) {
    const res = await ctx.http.post(`/v1/apps/${appId}/releases`).set(ctx.admin).send({ version, bundleUrl: `https://example.com/${version}.zip`, sha256: sha.repeat(64) });
    if (res.status !== 201) throw new Error(`release: ${res.status} ${JSON.stringify(res.body)}`);
  }
  for (const channel of ['production', 'beta']) {
    const res = await ctx.http.post(`/v1/apps/${appId}/rollouts`).set(ctx.admin).send({ channel, version: '1.1.0', baselineVersion: '1.0.0', percent: 10 });
    if (res.status !== 201) throw new Error(`rollout: ${res.status} ${JSON.stringify(res.body)}`);
    rolloutIds[channel] = String(res.body.id);
  }
}, 60_000);
afterAll(async () => {
  await ctx?.close();
});

const pause = (headers: { Authorization: string }, channel: string) =>
  ctx.http.post(`/v1/apps/${appId}/rollouts/${rolloutIds[channel]}/pause`).set(headers).send({ reason: 'scope test' });
const statusOf = async (channel: string) => (await ctx.http.get(`/v1/apps/${appId}/rollouts/${rolloutIds[channel]}`).set(ctx.admin)).body.status;

describe('channel scope on rollouts addressed by id', () => {
  it('a developer scoped to beta cannot pause the production rollout, and can pause the beta one', async () => {
    const dev = await key({ name: 'beta dev', role: 'developer', channels: ['beta'] });
    const denied = await pause(dev, 'production');
    expect([403, 404]).toContain(denied.status);
    expect(await statusOf('production')).toBe('active');
    expect((await pause(dev, 'beta')).status).toBe(200);
    expect(await statusOf('beta')).toBe('paused');
  });

  it('an unscoped QA key is limited to the test channels; monitoring cannot act at all', async () => {
    const qa = await key({ name: 'qa', role: 'qa' });
    expect([403, 404]).toContain((await pause(qa, 'production')).status);
    expect(await statusOf('production')).toBe('active');
    const monitoring = await key({ name: 'mon', role: 'monitoring' });
    expect((await pause(monitoring, 'production')).status).toBe(403);
  });

  it('a key scoped to another app gets 403 before the rollout is looked up', async () => {
    const other = await key({ name: 'other', role: 'developer', appIds: ['com.other.app'] });
    expect((await pause(other, 'production')).status).toBe(403);
    const unknown = await ctx.http.post(`/v1/apps/${appId}/rollouts/does-not-exist/pause`).set(other).send({ reason: 'x' });
    expect(unknown.status).toBe(403);
    expect(await statusOf('production')).toBe('active');
  });

  it('a developer scoped to beta cannot read production metrics or production rollouts by name', async () => {
    const dev = await key({ name: 'beta reader', role: 'developer', channels: ['beta'] });
    expect((await ctx.http.get(`/v1/apps/${appId}/rollouts?channel=production`).set(dev)).status).toBe(403);

    expect((await ctx.http.get(`/v1/apps/${appId}/metrics?channel=production`).set(dev)).status).toBe(403);
    expect((await ctx.http.get(`/v1/apps/${appId}/metrics?channel=beta`).set(dev)).status).toBe(200);
  });

  it('the unfiltered rollout and channel lists of a beta-scoped developer hold only beta', async () => {
    const dev = await key({ name: 'beta lister', role: 'developer', channels: ['beta'] });
    const rollouts = await ctx.http.get(`/v1/apps/${appId}/rollouts`).set(dev);
    expect(rollouts.status).toBe(200);
    expect(rollouts.body.rollouts.map((r: { channel: string }) => r.channel)).toEqual(['beta']);
    const channels = await ctx.http.get(`/v1/apps/${appId}/channels`).set(dev);
    expect(channels.body.channels.map((c: { name: string }) => c.name)).toEqual(['beta']);
    // The admin still sees both.
    const all = await ctx.http.get(`/v1/apps/${appId}/rollouts`).set(ctx.admin);
    expect(all.body.rollouts.map((r: { channel: string }) => r.channel).sort()).toEqual(['beta', 'production']);
  });
});
