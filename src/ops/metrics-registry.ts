import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';

/** One registry per container, so several apps in one test process never collide on metric names. */
export function createMetricsRegistry(): { registry: Registry; httpLatency: Histogram<'method' | 'route' | 'status'> } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'otaguard_' });
  const httpLatency = new Histogram({
    name: 'otaguard_http_request_duration_seconds',
    help: 'HTTP request latency by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  return { registry, httpLatency };
}
