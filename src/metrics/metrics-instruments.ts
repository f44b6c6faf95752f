import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { QueueName } from '../queues.js';

/** Prometheus instruments of the metrics pipeline (ingest's own counters live with ingest). */
export interface MetricsInstruments {
  flushLag: Histogram;
  flushes: Counter<'result'>;
  countedEvents: Counter;
  deviceIncrements: Counter;
  droppedEvents: Counter;
  lateFacts: Counter;
  bufferedEvents: Gauge;
  reconcileCorrections: Counter;
  launchVerdicts: Counter<'verdict'>;
}

export function createMetricsInstruments(
  registry: Registry,
  queueDepths: () => Promise<Record<QueueName, number>>,
  buffered: () => number,
): MetricsInstruments {
  const registers = [registry];
  new Gauge({
    name: 'otaguard_queue_depth',
    help: 'Jobs waiting, delayed, prioritized or active per BullMQ queue',
    labelNames: ['queue'] as const,
    registers,
    async collect() {
      try {
        for (const [queue, depth] of Object.entries(await queueDepths())) this.set({ queue }, depth);
      } catch {
        // Redis down: keep the last values; readiness reports the outage.
      }
    },
  });
  return {
    flushLag: new Histogram({
      name: 'otaguard_metrics_flush_lag_seconds',
      help: 'Time from ingest handing events to the metrics aggregator until their counters are written (oldest event of each flush)',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
      registers,
    }),
    flushes: new Counter({ name: 'otaguard_metrics_flushes_total', help: 'Counter flushes by result', labelNames: ['result'] as const, registers }),
    countedEvents: new Counter({ name: 'otaguard_metrics_events_counted_total', help: 'Accepted events processed by the aggregator', registers }),
    deviceIncrements: new Counter({
      name: 'otaguard_metrics_device_increments_total',
      help: 'Device counts added to counters (after cross-process dedupe)',
      registers,
    }),
    droppedEvents: new Counter({
      name: 'otaguard_metrics_dropped_events_total',
      help: 'Events not counted live because the aggregator buffer was full (their days are queued for reconciliation)',
      registers,
    }),
    lateFacts: new Counter({
      name: 'otaguard_metrics_late_facts_total',
      help: 'Bucket counts left to reconciliation because the event arrived after the live horizon of its bucket',
      registers,
    }),
    bufferedEvents: new Gauge({
      name: 'otaguard_metrics_buffered_events',
      help: 'Events waiting for the next flush',
      registers,
      collect() {
        this.set(buffered());
      },
    }),
    reconcileCorrections: new Counter({
      name: 'otaguard_metrics_reconcile_corrections_total',
      help: 'Counter cells reconciliation found different from the raw events and set to the exact value',
      registers,
    }),
    launchVerdicts: new Counter({
      name: 'otaguard_metrics_launch_verdicts_total',
      help: 'Installs judged by the 10-minute launch rule, by verdict',
      labelNames: ['verdict'] as const,
      registers,
    }),
  };
}
