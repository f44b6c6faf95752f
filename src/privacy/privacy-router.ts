import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Router, type Request, type Response } from 'express';
import type { AccessService } from '../access/access-service.js';
import type { AppService } from '../apps/app-service.js';
import type { Clock } from '../clock.js';
import { InvalidError } from '../errors.js';
import type { components } from '../generated/api.js';
import { principalOf, requirePermission } from '../http/auth.js';
import { ingestAppOf, requireIngestKey } from '../http/device-auth.js';
import { validate, type RequestValidators, type ValidatedRequest } from '../http/validation.js';
import type { ArchiveDownload } from './export-archive.js';
import type { PrivacyDocuments } from './privacy-documents.js';
import type { PrivacyService, Viewer } from './privacy-service.js';
import type { RequestStatus, RequestType } from './privacy-types.js';
import { requestView, retentionRunView } from './privacy-views.js';
import type { RetentionService } from './retention-service.js';

type Schemas = components['schemas'];

const ADMIN_BASE = '/v1/privacy/requests';
const DEVICE_BASE = '/v1/privacy/device-requests';
const STATUS_TOKEN = /^ogt_[A-Za-z0-9_-]{43}$/;

const input = (res: Response): ValidatedRequest => res.locals.input as ValidatedRequest;
const idOf = (res: Response): string => String(input(res).params.id);

function adminViewer(res: Response): Extract<Viewer, { kind: 'admin' }> {
  const principal = principalOf(res);
  return { kind: 'admin', keyId: principal.keyId, appIds: principal.appIds };
}

/** The device proves itself with the status token it got when it filed the request. */
function deviceViewer(req: Request, res: Response): Viewer {
  const token = req.get('x-status-token');
  if (!token || !STATUS_TOKEN.test(token)) {
    throw new InvalidError('validation_failed', 'header.x-status-token is required (the statusToken returned when the request was filed)', {
      field: 'header.x-status-token',
      reason: 'is required',
    });
  }
  return { kind: 'device', appId: ingestAppOf(res).appId, token };
}

async function sendArchive(res: Response, download: ArchiveDownload): Promise<void> {
  res.status(200);
  res.setHeader('Content-Type', 'application/zip');
  res.setHeader('Content-Length', String(download.length));
  res.setHeader('Content-Disposition', `attachment; filename="${download.filename}"`);
  res.setHeader('Cache-Control', 'no-store');
  // A failed chunk or GCM tag ends the response early: a truncated zip, never a wrong one.
  await pipeline(Readable.from(download.body), res);
}

export function privacyRouter(deps: {
  privacy: PrivacyService;
  privacyDocuments: PrivacyDocuments;
  retention: RetentionService;
  access: AccessService;
  apps: AppService;
  validators: RequestValidators;
  clock: Clock;
}): Router {
  const { privacy, privacyDocuments: documents, retention, access, apps, validators, clock } = deps;
  const router = Router();
  const manage = requirePermission(access, 'privacy:manage');
  // Reads span apps (the request's app is known only after the lookup); the service hides other apps' requests.
  const manageAny = requirePermission(access, 'privacy:manage', () => ({}));

  router.post(ADMIN_BASE, manage, validate(validators, 'createPrivacyRequest'), async (_req, res) => {
    const { receivedAt, ...body } = input(res).body as Schemas['CreatePrivacyRequest'];
    const { request, duplicate } = await privacy.create(
      { ...body, ...(receivedAt !== undefined ? { receivedAt: new Date(receivedAt) } : {}) },
      adminViewer(res),
    );
    res.status(202).json({ ...requestView(request, clock.now(), ADMIN_BASE, false), duplicate });
  });

  router.get(ADMIN_BASE, manageAny, validate(validators, 'listPrivacyRequests'), async (_req, res) => {
    const query = input(res).query;
    const list = await privacy.list(
      {
        ...(query.status !== undefined ? { status: query.status as RequestStatus } : {}),
        ...(query.overdue !== undefined ? { overdue: query.overdue as boolean } : {}),
        ...(query.dueBefore !== undefined ? { dueBefore: new Date(String(query.dueBefore)) } : {}),
        ...(query.appId !== undefined ? { appId: String(query.appId) } : {}),
        ...(query.type !== undefined ? { type: query.type as RequestType } : {}),
        limit: (query.limit as number | undefined) ?? 100,
      },
      adminViewer(res),
    );
    const now = clock.now();
    res.json({ requests: list.map((r) => requestView(r, now, ADMIN_BASE, false)) });
  });

  router.get(`${ADMIN_BASE}/:id`, manageAny, validate(validators, 'getPrivacyRequest'), async (_req, res) => {
    res.json(requestView(await privacy.get(idOf(res), adminViewer(res)), clock.now(), ADMIN_BASE, false));
  });

  router.post(`${ADMIN_BASE}/:id/extend`, manageAny, validate(validators, 'extendPrivacyRequest'), async (_req, res) => {
    const { reason } = input(res).body as Schemas['ExtendPrivacyRequest'];
    res.json(requestView(await privacy.extend(idOf(res), reason, adminViewer(res)), clock.now(), ADMIN_BASE, false));
  });

  router.post(`${ADMIN_BASE}/:id/deny`, manageAny, validate(validators, 'denyPrivacyRequest'), async (_req, res) => {
    const { basis } = input(res).body as Schemas['DenyPrivacyRequest'];
    res.json(requestView(await privacy.deny(idOf(res), basis, adminViewer(res)), clock.now(), ADMIN_BASE, false));
  });

  router.get(`${ADMIN_BASE}/:id/export`, manageAny, validate(validators, 'downloadPrivacyExport'), async (_req, res) => {
    await sendArchive(res, await documents.exportArchive(idOf(res), adminViewer(res)));
  });

  router.get(`${ADMIN_BASE}/:id/receipt`, manageAny, validate(validators, 'getPrivacyReceipt'), async (_req, res) => {
    res.json(await documents.receipt(idOf(res), adminViewer(res)));
  });

  router.get('/v1/privacy/receipt-key', validate(validators, 'getPrivacyReceiptKey'), (_req, res) => {
    res.json(documents.receiptKey());
  });

  router.get('/v1/privacy/retention-runs', manageAny, validate(validators, 'listRetentionRuns'), async (_req, res) => {
    const limit = (input(res).query.limit as number | undefined) ?? 20;
    res.json({ runs: (await retention.listRuns(limit)).map(retentionRunView) });
  });

  // Device self-service (GDPR Art. 11(2)): the ingest key names the app, the device id is the proof.
  router.post(DEVICE_BASE, requireIngestKey(apps), validate(validators, 'createDevicePrivacyRequest'), async (_req, res) => {
    const body = input(res).body as Schemas['CreateDevicePrivacyRequest'];
    const appId = ingestAppOf(res).appId;
    const { request, duplicate, statusToken } = await privacy.create(
      { appId, deviceId: body.deviceId, type: body.type, jurisdiction: body.jurisdiction ?? 'gdpr', ...(body.purpose !== undefined ? { purpose: body.purpose } : {}) },
      { kind: 'device', appId },
    );
    res.status(202).json({ ...requestView(request, clock.now(), DEVICE_BASE, true), duplicate, statusToken });
  });

  router.get(`${DEVICE_BASE}/:id`, requireIngestKey(apps), validate(validators, 'getDevicePrivacyRequest'), async (req, res) => {
    res.json(requestView(await privacy.get(idOf(res), deviceViewer(req, res)), clock.now(), DEVICE_BASE, true));
  });

  router.get(`${DEVICE_BASE}/:id/export`, requireIngestKey(apps), validate(validators, 'downloadDevicePrivacyExport'), async (req, res) => {
    await sendArchive(res, await documents.exportArchive(idOf(res), deviceViewer(req, res)));
  });

  router.get(`${DEVICE_BASE}/:id/receipt`, requireIngestKey(apps), validate(validators, 'getDevicePrivacyReceipt'), async (req, res) => {
    res.json(await documents.receipt(idOf(res), deviceViewer(req, res)));
  });

  return router;
}
