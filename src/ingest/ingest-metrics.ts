import { Counter, Gauge, type Registry } from 'prom-client';

export type EventOutcome = 'accepted' | 'duplicate' | 'invalid' | 'too_old' | 'in_future' | 'suppressed' | 'consent_required';
export type BatchRefusal = 'too_large' | 'rate_limited' | 'overloaded' | 'timeout' | 'unavailable';

/** What ingest reports about itself; Prometheus in production, anything in tests. */
export interface IngestObserver {
  events(outcome: EventOutcome, count: number): void;
  refused(reason: BatchRefusal): void;
}

/** `otaguard_ingest_events_total{outcome}` and `otaguard_ingest_batches_refused_total{reason}` on the container's registry. */
export function prometheusIngestObserver(registry: Registry, inFlight: () => number): IngestObserver {
  const events = new Counter({
    name: 'otaguard_ingest_events_total',
    help: 'Telemetry events by outcome: accepted, duplicate, or the reject code',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const refused = new Counter({
    name: 'otaguard_ingest_batches_refused_total',
    help: 'Event batches refused as a whole (413, 429, 503) by reason',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'otaguard_ingest_in_flight_batches',
    help: 'Event batches this process is working on',
    registers: [registry],
    collect() {
      this.set(inFlight());
    },
  });
  return {
    events: (outcome, count) => {
      if (count > 0) events.inc({ outcome }, count);
    },
    refused: (reason) => refused.inc({ reason }),
  };
}
