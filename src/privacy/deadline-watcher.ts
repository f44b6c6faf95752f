import { SYSTEM_ACTOR, type AuditLog } from '../audit/audit-log.js';
import type { Clock } from '../clock.js';
import type { WebhookEvent } from '../webhooks/webhook-publisher.js';
import { DAY_MS, noticeDue } from './deadlines.js';
import type { PrivacyRequestStore } from './privacy-request-store.js';
import { OPEN_STATUSES, type NoticeKind } from './privacy-types.js';

/** Publishing keyed by an idempotency key: a rerun after a crash does not deliver twice. */
export interface NoticePublisher {
  publishOnce(key: string, event: WebhookEvent, data: Record<string, unknown>, appId?: string): Promise<void>;
}

const MAX_PER_RUN = 10_000;
/** A more urgent notice covers the less urgent ones not sent yet. */
const COVERS: Record<NoticeKind, NoticeKind[]> = { overdue: ['dueSoon2', 'dueSoon7'], dueSoon2: ['dueSoon7'], dueSoon7: [] };
const LABEL: Record<NoticeKind, string> = { dueSoon7: '7d', dueSoon2: '2d', overdue: 'overdue' };

export interface DeadlineCheck {
  checked: number;
  announced: Record<NoticeKind, number>;
}

/**
 * Announces each open request once when it comes within 7 days of its due date, once within 2 days and
 * once when it is overdue (webhooks `privacy.due_soon` and `privacy.overdue`). An extension resets them.
 */
export class DeadlineWatcher {
  constructor(
    private readonly deps: { store: PrivacyRequestStore; webhooks: NoticePublisher; audit: AuditLog; clock: Clock },
  ) {}

  async check(): Promise<DeadlineCheck> {
    const { store, webhooks, clock } = this.deps;
    const now = clock.now();
    const soon = await store.list({ appIds: [], statuses: OPEN_STATUSES, dueBefore: new Date(now.getTime() + 7 * DAY_MS + 1), limit: MAX_PER_RUN });
    const announced: Record<NoticeKind, number> = { dueSoon7: 0, dueSoon2: 0, overdue: 0 };
    for (const request of soon) {
      const kind = noticeDue(request.dueAt, now);
      if (!kind || request.notices[kind]) continue;
      const event: WebhookEvent = kind === 'overdue' ? 'privacy.overdue' : 'privacy.due_soon';
      const data = {
        requestId: request.id,
        appId: request.appId,
        type: request.type,
        jurisdiction: request.jurisdiction,
        status: request.status,
        dueAt: request.dueAt.toISOString(),
        notice: LABEL[kind],
        daysLeft: Math.ceil((request.dueAt.getTime() - now.getTime()) / DAY_MS),
      };
      // Publish first, keyed by request, notice and due date; then record it. A crash in between republishes
      // under the same key, which the webhook service delivers once.
      await webhooks.publishOnce(`privacy:${request.id}:${kind}:${request.dueAt.getTime()}`, event, data, request.appId);
      if (!(await store.markNotice(request.id, kind, now))) continue;
      for (const covered of COVERS[kind]) await store.markNotice(request.id, covered, now);
      announced[kind]++;
      await this.deps.audit.record({ actor: SYSTEM_ACTOR, action: `privacy.request.${kind === 'overdue' ? 'overdue' : 'due_soon'}`, target: `privacy-request:${request.id}`, appId: request.appId, details: data });
    }
    return { checked: soon.length, announced };
  }
}
