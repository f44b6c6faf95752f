import type { Clock } from '../clock.js';
import type { CounterRow, CounterStore } from './counter-store.js';
import { ALL, BUCKET_MS, DEFINITIONS_VERSION, type CounterRetention, type Granularity } from './metric-definitions.js';
import { series, summarize, type SeriesPoint, type VersionReport } from './metrics-report.js';
import { resolveWindow } from './metrics-window.js';

export interface MetricsRequest {
  appId: string;
  channel?: string;
  version?: string;
  platform?: string;
  from?: string;
  to?: string;
  bucket?: Granularity;
}

export interface MetricsResult {
  appId: string;
  definitionsVersion: string;
  filters: { channel: string | null; version: string | null; platform: string | null };
  window: {
    from: string;
    to: string;
    bucket: Granularity;
    buckets: number;
    summary: { granularity: Granularity; buckets: number; unit: 'devices' | 'device-buckets' };
  };
  activeDevices: number;
  versions: VersionReport[];
  series: SeriesPoint[];
}

/** Something that throws NotFoundError for an unknown app. */
export interface AppLookup {
  get(appId: string): Promise<unknown>;
}

export class MetricsService {
  constructor(
    private readonly counters: CounterStore,
    private readonly apps: AppLookup,
    private readonly clock: Clock,
    private readonly kept: CounterRetention = {},
  ) {}

  async query(request: MetricsRequest): Promise<MetricsResult> {
    const window = resolveWindow(request, this.clock.now().getTime(), this.kept);
    await this.apps.get(request.appId);
    const read = (g: Granularity): Promise<CounterRow[]> =>
      this.counters.find({
        appId: request.appId,
        g,
        from: window.from,
        to: window.to,
        channel: request.channel ?? ALL,
        ...(request.platform !== undefined ? { platform: request.platform } : {}),
        ...(request.version !== undefined ? { versions: [request.version, ALL] } : {}),
      });
    const [summaryRows, seriesRows] = await Promise.all([
      read(window.summary),
      window.summary === window.bucket ? undefined : read(window.bucket),
    ]);
    const summary = summarize(summaryRows, request.version);
    return {
      appId: request.appId,
      definitionsVersion: DEFINITIONS_VERSION,
      filters: { channel: request.channel ?? null, version: request.version ?? null, platform: request.platform ?? null },
      window: {
        from: new Date(window.from).toISOString(),
        to: new Date(window.to).toISOString(),
        bucket: window.bucket,
        buckets: (window.to - window.from) / BUCKET_MS[window.bucket],
        summary: {
          granularity: window.summary,
          buckets: window.summaryBuckets,
          unit: window.summaryBuckets === 1 ? 'devices' : 'device-buckets',
        },
      },
      activeDevices: summary.activeDevices,
      versions: summary.versions,
      series: series(seriesRows ?? summaryRows, request.version),
    };
  }
}
