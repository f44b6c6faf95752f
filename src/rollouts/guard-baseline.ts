import { historicalBaselineRate, type FailureHistory } from '../guard/baseline-rate.js';
import { guardSegments, type GuardConfig, type GuardMetric } from '../guard/guard-config.js';
import { DeviceCounter } from '../metrics/device-counting.js';
import type { GuardEventSource } from './guard-event-source.js';
import { APP_READY_TIMEOUT_MS, type BaselineRates } from './guard-inputs.js';

/** How far back a version's history is read for λ0. */
const HISTORY_MS = 30 * 24 * 3600_000;
const PREVIOUS_RELEASES = 3;

type Histories = Map<string, FailureHistory>;

/**
 * λ0 for the one-sample metrics, fixed when a test starts: C's own device-level failure rate on the
 * channel (its upper 95 % bound, from ≥ 20 failures), else the pooled rate of the three releases
 * before it, per platform segment and pooled — the spec's rule, counted by the production core.
 */
export class GuardBaselines {
  constructor(private readonly events: GuardEventSource) {}

  async rates(
    scope: { appId: string; channel: string; versionC: string; config: GuardConfig },
    previousVersions: readonly string[],
    now: number,
  ): Promise<BaselineRates> {
    const metrics = (Object.keys(scope.config.metrics) as GuardMetric[]).filter(
      (m) => scope.config.metrics[m].enabled && scope.config.metrics[m].control === 'historical',
    );
    if (metrics.length === 0) return {};
    const baseline = await this.history(scope, scope.versionC, now);
    const previous = await Promise.all(previousVersions.slice(0, PREVIOUS_RELEASES).map((v) => this.history(scope, v, now)));
    const out: BaselineRates = {};
    for (const metric of metrics) {
      const bySegment: Record<string, number | null> = {};
      for (const segment of guardSegments(scope.config)) {
        const platforms = segment === 'all' ? null : [segment];
        const pick = (h: Histories): FailureHistory => sum(h, metric, platforms);
        bySegment[segment] = historicalBaselineRate(pick(baseline), previous.map(pick));
      }
      out[metric] = bySegment;
    }
    return out;
  }

  /** Failing and exposed devices per (metric, platform) over a version's recent history on the channel. */
  private async history(scope: { appId: string; channel: string; config: GuardConfig }, version: string, now: number): Promise<Histories> {
    const events = await this.events.find({ appId: scope.appId, channel: scope.channel, versions: [version], occurredFrom: now - HISTORY_MS, occurredTo: now });
    const counter = new DeviceCounter({ bucketMs: scope.config.bucketMs, appReadyTimeoutMs: APP_READY_TIMEOUT_MS });
    const totals: Histories = new Map();
    const add = (increments: ReturnType<DeviceCounter['expireMissingAppReady']>): void => {
      for (const inc of increments) {
        const key = `${inc.metric}|${inc.platform}`;
        const t = totals.get(key) ?? { failing: 0, exposed: 0 };
        totals.set(key, { failing: t.failing + inc.failing, exposed: t.exposed + inc.exposed });
      }
    };
    for (const event of events) add(counter.add(event).increments);
    add(counter.expireMissingAppReady(now));
    return totals;
  }
}

function sum(histories: Histories, metric: GuardMetric, platforms: string[] | null): FailureHistory {
  const total = { failing: 0, exposed: 0 };
  for (const [key, t] of histories) {
    const [m, platform] = key.split('|');
    if (m !== metric || (platforms && !platforms.includes(platform ?? ''))) continue;
    total.failing += t.failing;
    total.exposed += t.exposed;
  }
  return total;
}
