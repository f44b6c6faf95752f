import { Schema, type Connection, type Model } from 'mongoose';
import { isDuplicateKeyError, rawCollection } from '../connections.js';
import type { WebhookEvent } from './webhook-publisher.js';

export interface WebhookSubscription {
  id: string;
  url: string;
  events: WebhookEvent[];
  /** null = every app. */
  appId: string | null;
  description: string | null;
  /** The signing secret, sealed with a MASTER_KEY-derived key. */
  sealedSecret: string;
  createdBy: string;
  createdAt: Date;
  disabledAt: Date | null;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface DeliveryAttempt {
  at: Date;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

export interface WebhookDelivery {
  id: string;
  subscriptionId: string;
  event: WebhookEvent;
  appId: string | null;
  /** The exact JSON body sent (and signed). */
  body: string;
  status: DeliveryStatus;
  attempts: DeliveryAttempt[];
  createdAt: Date;
  deliveredAt: Date | null;
}

export interface WebhookStore {
  insertSubscription(subscription: WebhookSubscription): Promise<void>;
  getSubscription(id: string): Promise<WebhookSubscription | null>;
  listSubscriptions(appIds?: readonly string[]): Promise<WebhookSubscription[]>;
  /** Enabled subscriptions to `event` for this app (or for every app). */
  matching(event: WebhookEvent, appId: string | undefined): Promise<WebhookSubscription[]>;
  disableSubscription(id: string, at: Date): Promise<boolean>;
  /** Idempotent by id: a retried publish does not create a second delivery. */
  insertDelivery(delivery: WebhookDelivery): Promise<boolean>;
  getDelivery(id: string): Promise<WebhookDelivery | null>;
  listDeliveries(subscriptionId: string, limit: number): Promise<WebhookDelivery[]>;
  recordAttempt(id: string, attempt: DeliveryAttempt, status: DeliveryStatus): Promise<void>;
}

type SubscriptionDoc = Omit<WebhookSubscription, 'id'> & { _id: string };
type DeliveryDoc = Omit<WebhookDelivery, 'id'> & { _id: string };

const subscriptionSchema = new Schema<SubscriptionDoc>(
  {
    _id: { type: String, required: true },
    url: { type: String, required: true },
    events: { type: [String], required: true },
    appId: { type: String, default: null },
    description: { type: String, default: null },
    sealedSecret: { type: String, required: true },
    createdBy: { type: String, required: true },
    createdAt: { type: Date, required: true },
    disabledAt: { type: Date, default: null },
  },
  { versionKey: false, collection: 'webhook_subscriptions' },
);
// Publishing looks up enabled subscriptions by event.
subscriptionSchema.index({ events: 1, disabledAt: 1 });

const deliverySchema = new Schema<DeliveryDoc>(
  {
    _id: { type: String, required: true },
    subscriptionId: { type: String, required: true },
    event: { type: String, required: true },
    appId: { type: String, default: null },
    body: { type: String, required: true },
    status: { type: String, required: true },
    attempts: { type: Schema.Types.Mixed, default: [] },
    createdAt: { type: Date, required: true },
    deliveredAt: { type: Date, default: null },
  },
  { versionKey: false, collection: 'webhook_deliveries' },
);
// The delivery log of one subscription, newest first.
deliverySchema.index({ subscriptionId: 1, createdAt: -1 });

const toSubscription = ({ _id, ...rest }: SubscriptionDoc): WebhookSubscription => ({
  id: _id,
  ...rest,
  events: rest.events ?? [],
  appId: rest.appId ?? null,
  description: rest.description ?? null,
  disabledAt: rest.disabledAt ?? null,
});
const toDelivery = ({ _id, ...rest }: DeliveryDoc): WebhookDelivery => ({
  id: _id,
  ...rest,
  attempts: rest.attempts ?? [],
  appId: rest.appId ?? null,
  deliveredAt: rest.deliveredAt ?? null,
});

export class MongoWebhookStore implements WebhookStore {
  readonly subscriptions: Model<SubscriptionDoc>;
  readonly deliveries: Model<DeliveryDoc>;

  constructor(connection: Connection) {
    this.subscriptions = connection.model<SubscriptionDoc>('WebhookSubscription', subscriptionSchema);
    this.deliveries = connection.model<DeliveryDoc>('WebhookDelivery', deliverySchema);
  }

  async insertSubscription({ id, ...rest }: WebhookSubscription): Promise<void> {
    await rawCollection(this.subscriptions).insertOne({ _id: id, ...rest });
  }

  async getSubscription(id: string): Promise<WebhookSubscription | null> {
    const doc = await this.subscriptions.findById(id).lean<SubscriptionDoc>();
    return doc ? toSubscription(doc) : null;
  }

  async listSubscriptions(appIds?: readonly string[]): Promise<WebhookSubscription[]> {
    const filter = appIds && appIds.length > 0 ? { appId: { $in: [...appIds] } } : {};
    const docs = await this.subscriptions.find(filter).sort({ createdAt: 1 }).lean<SubscriptionDoc[]>();
    return docs.map(toSubscription);
  }

  async matching(event: WebhookEvent, appId: string | undefined): Promise<WebhookSubscription[]> {
    const docs = await this.subscriptions.find({ events: event, disabledAt: null }).lean<SubscriptionDoc[]>();
    return docs.map(toSubscription).filter((s) => s.appId === null || s.appId === appId);
  }

  async disableSubscription(id: string, at: Date): Promise<boolean> {
    const result = await this.subscriptions.updateOne({ _id: id, disabledAt: null }, { $set: { disabledAt: at } });
    return result.modifiedCount === 1;
  }

  async insertDelivery({ id, ...rest }: WebhookDelivery): Promise<boolean> {
    try {
      await rawCollection(this.deliveries).insertOne({ _id: id, ...rest });
      return true;
    } catch (err) {
      if (isDuplicateKeyError(err)) return false;
      throw err;
    }
  }

  async getDelivery(id: string): Promise<WebhookDelivery | null> {
    const doc = await this.deliveries.findById(id).lean<DeliveryDoc>();
    return doc ? toDelivery(doc) : null;
  }

  async listDeliveries(subscriptionId: string, limit: number): Promise<WebhookDelivery[]> {
    const docs = await this.deliveries.find({ subscriptionId }).sort({ createdAt: -1 }).limit(limit).lean<DeliveryDoc[]>();
    return docs.map(toDelivery);
  }

  async recordAttempt(id: string, attempt: DeliveryAttempt, status: DeliveryStatus): Promise<void> {
    const set: Record<string, unknown> = { status };
    if (status === 'delivered') set.deliveredAt = attempt.at;
    await rawCollection(this.deliveries).updateOne({ _id: id }, { $push: { attempts: attempt }, $set: set });
  }
}
