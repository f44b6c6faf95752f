import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export type EventOutcome = 'accepted' | 'duplicate' | 'invalid' | 'too_old' | 'in_future' | 'suppressed' | 'consent_required';
export type BatchRefusal = 'too_large' | 'rate_limited' | 'overloaded' | 'timeout' | 'unavailable';
/**
 * Where a batch's time goes: `check` (shape, clock window, pseudonyms), `limits` (Redis rate limits),
 * `reads` (suppression and consent), `write` (the durable event write and device state, including the
 * wait for the coalescing writer), `recheck` (suppression read again after the write).
 */
export type IngestPhase = 'check' | 'limits' | 'reads' | 'write' | 'recheck';

/** What ingest reports about itself; Prometheus in production, anything in tests. */
export interface IngestObserver {
  events(outcome: EventOutcome, count: number): void;
  refused(reason: BatchRefusal): void;
  phase(phase: IngestPhase, seconds: number): void;
}

/**
 * `otaguard_ingest_events_total{outcome}`, `otaguard_ingest_batches_refused_total{reason}` and
 * `otaguard_ingest_phase_seconds{phase}` on the container's registry.
 */
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
  const phases = new Histogram({
    name: 'otaguard_ingest_phase_seconds',
    help: 'Time an accepted-for-processing event batch spends in each ingest phase',
    labelNames: ['phase'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
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
    phase: (phase, seconds) => phases.observe({ phase }, seconds),
  };
}
