import { Router } from 'express';
import type { AppService } from '../apps/app-service.js';
import type { components } from '../generated/api.js';
import { ingestAppOf, requireIngestKey } from '../http/device-auth.js';
import { validate, type RequestValidators, type ValidatedRequest } from '../http/validation.js';
import type { ConsentService } from './consent-service.js';
import type { IngestService } from './ingest-service.js';

type ConsentRequest = components['schemas']['ConsentRequest'];
type ConsentReceiptView = components['schemas']['ConsentReceipt'];
type IngestEventsRequest = components['schemas']['IngestEventsRequest'];
type IngestEventsResult = components['schemas']['IngestEventsResult'];

/** Device endpoints: consent decisions and event batches, authenticated with the app's ingest key. */
export function ingestRouter(deps: {
  apps: AppService;
  ingest: IngestService;
  consent: ConsentService;
  validators: RequestValidators;
}): Router {
  const { apps, ingest, consent, validators } = deps;
  const router = Router();

  router.post('/v1/consent', requireIngestKey(apps), validate(validators, 'recordConsent'), async (_req, res) => {
    const body = (res.locals.input as ValidatedRequest).body as ConsentRequest;
    const receipt = await consent.record(ingestAppOf(res).appId, body);
    const view: ConsentReceiptView = { ...receipt, recordedAt: receipt.recordedAt.toISOString() };
    res.status(201).json(view);
  });

  router.post('/v1/events', requireIngestKey(apps), validate(validators, 'ingestEvents'), async (req, res) => {
    const body = (res.locals.input as ValidatedRequest).body as IngestEventsRequest;
    const declared = Number(req.get('content-length'));
    const result: IngestEventsResult = await ingest.ingest(
      ingestAppOf(res),
      body.events,
      Number.isFinite(declared) ? declared : undefined,
    );
    res.status(202).json(result);
  });

  return router;
}
