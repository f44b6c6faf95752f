import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkers, type Workers } from '../../jobs/worker.js';
import { ManualClock } from '../../src/clock.js';
import { createTestContext, type TestContext } from '../helpers/test-context.js';
import { startWebhookReceiver, waitFor } from '../helpers/webhook-receiver.js';

/**
 * Due-soon and overdue notices, driven by a manual clock through the real `retention` job (task
 * `deadlines`) and delivered as signed webhooks. No privacy worker runs, so requests stay open.
 */
let ctx: TestContext;
let workers: Workers;
let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;
let app: { appId: string };
const clock = new ManualClock('2026-01-10T12:00:00Z');
const DAY = 86_400_000;

type Notice = { type: string; data: { requestId: string; notice: string; daysLeft: number; dueAt: string } };
const notices = (): Notice[] => receiver.received.map((r) => JSON.parse(r.body) as Notice);

async function runCheck(): Promise<void> {
  const queue = ctx.container.queues.get('retention');
  const job = await queue.add('retention', { task: 'deadlines' });
  await waitFor(async () => ['completed', 'failed'].includes(await job.getState()), 20_000, 'deadline check');
  expect(await job.getState()).toBe('completed');
}

beforeAll(async () => {
  ctx = await createTestContext({ clock });
  receiver = await startWebhookReceiver();
  app = await ctx.createApp('com.privacy.deadlines');
  const hook = await ctx.http.post('/v1/webhooks').set(ctx.admin).send({ url: receiver.url, events: ['privacy.due_soon', 'privacy.overdue'], appId: app.appId });
  expect(hook.status).toBe(201);
  const { privacy: _privacy, ...others } = (await import('../../jobs/processors.js')).PROCESSORS;
  workers = startWorkers(ctx.container, others);
});
afterAll(async () => {
  await workers?.close();
  await receiver?.close();
  await ctx?.close();
});

describe('deadline notices', () => {
  it('announces 7 days before, 2 days before and when overdue, once each', async () => {
    // Received 2026-01-10 → due 2026-02-10T23:59:59.999Z.
    const res = await ctx.http.post('/v1/privacy/requests').set(ctx.admin).send({ appId: app.appId, type: 'access', deviceId: 'deadline-device', jurisdiction: 'gdpr' });
    const id = res.body.id as string;
    expect(res.body.dueAt).toBe('2026-02-10T23:59:59.999Z');

    await runCheck();
    clock.set('2026-02-03T00:00:00Z'); // 8 days left: nothing yet
    await runCheck();
    await new Promise((r) => setTimeout(r, 500));
    expect(notices()).toEqual([]);

    clock.set('2026-02-04T00:00:01Z'); // within 7 days
    await runCheck();
    await runCheck();
    await waitFor(async () => notices().length >= 1, 15_000, 'due_soon 7d');
    clock.set('2026-02-09T12:00:00Z'); // within 2 days
    await runCheck();
    await waitFor(async () => notices().length >= 2, 15_000, 'due_soon 2d');
    clock.set('2026-02-11T00:00:00Z'); // overdue
    await runCheck();
    await runCheck();
    await waitFor(async () => notices().length >= 3, 15_000, 'overdue');
    await new Promise((r) => setTimeout(r, 1000));

    expect(notices().map((n) => [n.type, n.data.requestId, n.data.notice])).toEqual([
      ['privacy.due_soon', id, '7d'],
      ['privacy.due_soon', id, '2d'],
      ['privacy.overdue', id, 'overdue'],
    ]);
    expect(notices()[0]!.data).toMatchObject({ dueAt: '2026-02-10T23:59:59.999Z', daysLeft: 7 });
    const overdue = await ctx.http.get('/v1/privacy/requests?overdue=true').set(ctx.admin);
    expect(overdue.body.requests.map((r: { id: string }) => r.id)).toEqual([id]);
    const audited = (await ctx.container.audit.find({ limit: 1000 })).filter((e) => e.target === `privacy-request:${id}`).map((e) => e.action);
    expect(audited.filter((a) => a === 'privacy.request.due_soon')).toHaveLength(2);
    expect(audited.filter((a) => a === 'privacy.request.overdue')).toHaveLength(1);
  });

  it('announces only the most urgent notice for a request filed late, and re-arms after an extension', async () => {
    receiver.received.length = 0;
    clock.set('2026-03-01T12:00:00Z');
    // Received on Feb 2 → due Mar 2: within 2 days already.
    const res = await ctx.http
      .post('/v1/privacy/requests')
      .set(ctx.admin)
      .send({ appId: app.appId, type: 'delete', deviceId: 'late-device', jurisdiction: 'gdpr', receivedAt: '2026-02-02T09:00:00Z' });
    const id = res.body.id as string;
    await runCheck();
    await waitFor(async () => notices().length >= 1, 15_000, 'due_soon 2d');
    const ext = await ctx.http.post(`/v1/privacy/requests/${id}/extend`).set(ctx.admin).send({ reason: 'backlog' });
    expect(ext.body.dueAt).toBe('2026-05-02T23:59:59.999Z');
    clock.set(new Date(Date.parse('2026-05-02T23:59:59.999Z') - 6 * DAY));
    await runCheck();
    await waitFor(async () => notices().length >= 2, 15_000, 'due_soon after extension');
    await new Promise((r) => setTimeout(r, 500));
    expect(notices().map((n) => [n.data.requestId, n.data.notice, n.data.dueAt])).toEqual([
      [id, '2d', '2026-03-02T23:59:59.999Z'],
      [id, '7d', '2026-05-02T23:59:59.999Z'],
    ]);
  });
});
