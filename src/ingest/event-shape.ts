import type { ValidateFunction } from 'ajv/dist/2020.js';
import { describeFirstError } from '../http/validation.js';
import type { EventType } from './stored-event.js';

/** An event as a device sent it, after schema validation. `deviceId` is raw: it goes no further than ingest's pid step. */
export interface IncomingEvent {
  eventId: string;
  deviceId: string;
  type: EventType;
  version: string;
  channel: string;
  platform: string;
  occurredAt: Date;
  fromVersion?: string;
  nativeVersion?: string;
  osVersion?: string;
  errorCode?: string;
  durationMs?: number;
}

export type EventShapeResult = { ok: true; event: IncomingEvent } | { ok: false; field: string; reason: string };

/** Checks one item of a batch on its own, so one bad event becomes a reject and not a 400 for the batch. */
export type EventShapeCheck = (value: unknown) => EventShapeResult;

const SAFE_FIELD = /^[A-Za-z0-9_.]{1,64}$/;

/** Wraps the ajv validator compiled from the OpenAPI `TelemetryEvent` schema. */
export function eventShapeCheck(validate: ValidateFunction): EventShapeCheck {
  return (value) => {
    if (!validate(value)) {
      const { field, reason } = describeFirstError('event', validate.errors);
      const relative = field === 'event' ? 'event' : field.slice('event.'.length);
      // Unknown property names are client-chosen text: echo them only when they look like field names.
      return SAFE_FIELD.test(relative) ? { ok: false, field: relative, reason } : { ok: false, field: 'event', reason: 'has a field that is not allowed' };
    }
    const raw = value as Omit<IncomingEvent, 'occurredAt'> & { occurredAt: string };
    const occurredAt = new Date(raw.occurredAt);
    if (Number.isNaN(occurredAt.getTime())) return { ok: false, field: 'occurredAt', reason: 'is not a valid date-time' };
    return { ok: true, event: { ...raw, occurredAt } };
  };
}
