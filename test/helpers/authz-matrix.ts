import type { ApiRole } from '../../src/access/permissions.js';

/**
 * The authorization matrix: one row per operationId in openapi/otaguard.yaml. test/e2e/authz-matrix.test.ts
 * fails when an operation has no row (so a new endpoint cannot ship without a decision about who may call
 * it), when a row names an operation that no longer exists, and when any caller gets another status than
 * the row implies.
 *
 * Expected statuses, derived from a row:
 * - `public`: every caller passes (never 401/403).
 * - `device`: the app's ingest key passes; no key, a wrong key and every API key (any role) get 401.
 * - `admin`: roles in `allow` pass; other roles get 403 whatever the body or ids; no key, a wrong,
 *   revoked or expired key and an ingest key get 401. With `scope.app` a key scoped to another app gets 403;
 *   with `scope.channel` a key scoped to `beta` (and an unscoped QA key) get 403 on `production`.
 * "Passes" means authorization let the request through: anything but 401, 403 or a missing route.
 */
export type AuthKind = 'public' | 'device' | 'admin';

export interface RequestParts {
  path?: Record<string, string>;
  query?: Record<string, string>;
  body?: unknown;
}

export interface MatrixRow {
  auth: AuthKind;
  /** For `admin`: the roles that pass. */
  allow?: readonly ApiRole[];
  scope?: {
    /** Where the operation's app comes from; checked before any lookup. */
    app?: 'path' | 'body';
    /** Where the operation's channel comes from, when it is known before any lookup. */
    channel?: 'path' | 'body' | 'query';
  };
  /** Only keys without app/channel scope pass (operations that span every app). */
  unscopedOnly?: boolean;
  /** A request that is well-formed enough to reach the handler; `{appId}` and `{channel}` are filled in. */
  sample?: (fx: { appId: string; channel: string }) => RequestParts;
  /** Documented but not routed yet: the test expects 404 route_not_found and fails once it is routed. */
  pending?: string;
}

export const ALL_ROLES: readonly ApiRole[] = ['admin', 'developer', 'qa', 'monitoring', 'privacy'];
const READERS: readonly ApiRole[] = ['admin', 'developer', 'qa', 'monitoring'];
const RELEASERS: readonly ApiRole[] = ['admin', 'developer', 'qa'];
const PRIVACY_TEAM: readonly ApiRole[] = ['admin', 'privacy'];
const NO_PRIVACY_REQUEST = 'prq_00000000-0000-0000-0000-000000000000';

export const AUTHZ_MATRIX: Record<string, MatrixRow> = {
  // ops
  getHealth: { auth: 'public' },
  getReadiness: { auth: 'public' },
  getPrometheusMetrics: { auth: 'public' },
  getOpenApiDocument: { auth: 'public' },
  getApiDocs: { auth: 'public' },

  // apps
  createApp: {
    auth: 'admin',
    allow: ['admin'],
    scope: { app: 'body' },
    sample: ({ appId }) => ({ body: { appId, name: 'matrix' } }),
  },
  listApps: { auth: 'admin', allow: ALL_ROLES },

  // access and audit
  createApiKey: { auth: 'admin', allow: ['admin'], sample: () => ({ body: { name: 'matrix', role: 'monitoring' } }) },
  listApiKeys: { auth: 'admin', allow: ['admin'] },
  revokeApiKey: { auth: 'admin', allow: ['admin'], sample: () => ({ path: { id: 'key_00000000-0000-0000-0000-000000000000' } }) },
  listAuditEntries: { auth: 'admin', allow: ['admin', 'monitoring'], sample: () => ({ query: { limit: '1' } }) },
  verifyAuditLog: { auth: 'admin', allow: ['admin', 'monitoring'], unscopedOnly: true },

  // device ingest
  recordConsent: {
    auth: 'device',
    sample: () => ({ body: { deviceId: 'matrix-device', granted: true, purposes: ['telemetry'], policyVersion: 'v1', source: 'sdk' } }),
  },
  ingestEvents: { auth: 'device', sample: () => ({ body: { events: [] } }) },

  // app settings
  setSigningKey: { auth: 'admin', allow: ['admin'], scope: { app: 'path' }, sample: () => ({ body: { publicKey: null } }) },
  setGuardDefaults: { auth: 'admin', allow: ['admin'], scope: { app: 'path' }, sample: () => ({ body: {} }) },

  // releases, channels, rollouts, incidents
  createRelease: {
    auth: 'admin',
    allow: RELEASERS,
    scope: { app: 'path' },
    sample: () => ({ body: { version: '1.0.0', bundleUrl: 'https://example.com/b.zip', sha256: 'a'.repeat(64) } }),
  },
  listReleases: { auth: 'admin', allow: READERS, scope: { app: 'path' } },
  getRelease: { auth: 'admin', allow: READERS, scope: { app: 'path' }, sample: () => ({ path: { version: '9.9.9' } }) },
  listChannels: { auth: 'admin', allow: READERS, scope: { app: 'path' } },
  blockChannel: { auth: 'admin', allow: ['admin', 'developer'], scope: { app: 'path', channel: 'path' }, sample: () => ({ body: { reason: 'matrix' } }) },
  unblockChannel: { auth: 'admin', allow: ['admin', 'developer'], scope: { app: 'path', channel: 'path' }, sample: () => ({ body: { reason: 'matrix' } }) },
  createRollout: {
    auth: 'admin',
    allow: RELEASERS,
    scope: { app: 'path', channel: 'body' },
    sample: ({ channel }) => ({ body: { channel, version: '404.0.0', percent: 10 } }),
  },
  listRollouts: { auth: 'admin', allow: READERS, scope: { app: 'path', channel: 'query' }, sample: ({ channel }) => ({ query: { channel } }) },
  getRollout: { auth: 'admin', allow: READERS, scope: { app: 'path' } },
  pauseRollout: { auth: 'admin', allow: RELEASERS, scope: { app: 'path' }, sample: () => ({ body: { reason: 'matrix' } }) },
  resumeRollout: { auth: 'admin', allow: RELEASERS, scope: { app: 'path' }, sample: () => ({ body: { reason: 'matrix' } }) },
  advanceRollout: { auth: 'admin', allow: RELEASERS, scope: { app: 'path' }, sample: () => ({ body: { reason: 'matrix' } }) },
  rollbackRollout: { auth: 'admin', allow: RELEASERS, scope: { app: 'path' }, sample: () => ({ body: { reason: 'matrix' } }) },
  cancelRollout: { auth: 'admin', allow: RELEASERS, scope: { app: 'path' }, sample: () => ({ body: { reason: 'matrix' } }) },
  listRolloutDecisions: { auth: 'admin', allow: READERS, scope: { app: 'path' } },
  listIncidents: { auth: 'admin', allow: READERS, scope: { app: 'path' } },
  acknowledgeIncident: { auth: 'admin', allow: ['admin', 'developer'], scope: { app: 'path' }, sample: () => ({ body: { note: 'matrix' } }) },
  resolveIncident: { auth: 'admin', allow: ['admin', 'developer'], scope: { app: 'path' }, sample: () => ({ body: { note: 'matrix' } }) },

  // metrics
  getAppMetrics: { auth: 'admin', allow: READERS, scope: { app: 'path', channel: 'query' }, sample: ({ channel }) => ({ query: { channel } }) },

  // device update decision
  checkForUpdate: {
    auth: 'device',
    sample: ({ channel }) => ({ body: { deviceId: 'matrix-device', channel, platform: 'ios', currentVersion: '1.0.0', nativeVersion: '1.0.0' } }),
  },

  // webhooks
  createWebhook: {
    auth: 'admin',
    allow: ['admin'],
    scope: { app: 'body' },
    sample: ({ appId }) => ({ body: { url: 'https://example.com/hook', events: ['rollout.paused'], appId } }),
  },
  listWebhooks: { auth: 'admin', allow: ['admin'] },
  deleteWebhook: { auth: 'admin', allow: ['admin'] },
  listWebhookDeliveries: { auth: 'admin', allow: ['admin'] },

  // privacy requests (the request's app is known only after the lookup: other apps' requests are 404)
  createPrivacyRequest: {
    auth: 'admin',
    allow: PRIVACY_TEAM,
    scope: { app: 'body' },
    sample: ({ appId }) => ({ body: { appId, type: 'access', deviceId: 'matrix-device', jurisdiction: 'gdpr' } }),
  },
  listPrivacyRequests: { auth: 'admin', allow: PRIVACY_TEAM },
  getPrivacyRequest: { auth: 'admin', allow: PRIVACY_TEAM, sample: () => ({ path: { id: NO_PRIVACY_REQUEST } }) },
  extendPrivacyRequest: { auth: 'admin', allow: PRIVACY_TEAM, sample: () => ({ path: { id: NO_PRIVACY_REQUEST }, body: { reason: 'matrix' } }) },
  denyPrivacyRequest: { auth: 'admin', allow: PRIVACY_TEAM, sample: () => ({ path: { id: NO_PRIVACY_REQUEST }, body: { basis: 'matrix' } }) },
  downloadPrivacyExport: { auth: 'admin', allow: PRIVACY_TEAM, sample: () => ({ path: { id: NO_PRIVACY_REQUEST } }) },
  getPrivacyReceipt: { auth: 'admin', allow: PRIVACY_TEAM, sample: () => ({ path: { id: NO_PRIVACY_REQUEST } }) },
  getPrivacyReceiptKey: { auth: 'public' },
  listRetentionRuns: { auth: 'admin', allow: PRIVACY_TEAM },
  createDevicePrivacyRequest: { auth: 'device', sample: () => ({ body: { type: 'access', deviceId: 'matrix-device' } }) },
  getDevicePrivacyRequest: { auth: 'device', sample: () => ({ path: { id: NO_PRIVACY_REQUEST } }) },
  downloadDevicePrivacyExport: { auth: 'device', sample: () => ({ path: { id: NO_PRIVACY_REQUEST } }) },
  getDevicePrivacyReceipt: { auth: 'device', sample: () => ({ path: { id: NO_PRIVACY_REQUEST } }) },
};
