import { describe, expect, it } from 'vitest';
import { DEFAULT_GUARD_CONFIG, InvalidGuardConfigError, configHash, guardSegments, resolveGuardConfig } from '../../../src/guard/guard-config.js';
import { canonicalJson } from '../../../src/crypto/canonical-json.js';

describe('guard configuration', () => {
  it('has the spec defaults', () => {
    const c = resolveGuardConfig();
    expect(c).toMatchObject({
      bucketMs: 60_000,
      alphaFail: 0.01,
      alphaWarn: 0.05,
      grid: [1.5, 2, 3, 5, 10, 30],
      minFailingDevices: 5,
      cusum: { rho1: 2, threshold: 8 },
      catastrophic: { minFailingDevices: 5, confidence: 0.99, proportion: 0.2 },
      pass: { rho: 1.5, alpha: 0.05, minBakeMs: 3_600_000 },
      sampleRatio: { pValue: 0.001 },
      dataHealth: { maxIngestionLagMs: 300_000, silentExpectedDevices: 20 },
      inconclusiveMs: 86_400_000,
    });
    expect(c.metrics.install_failure).toMatchObject({ rho0: 1.5, policy: 'pause', control: 'historical' });
    expect(c.metrics.launch_failure).toMatchObject({ rho0: 1.2, policy: 'rollback', catastrophic: true });
    expect(c.metrics.crash_rate).toMatchObject({ rho0: 1.2, policy: 'rollback', control: 'concurrent' });
  });

  it('merges app defaults, then rollout overrides, replacing arrays', () => {
    const c = resolveGuardConfig({ alphaFail: 0.005, grid: [2, 4], metrics: { crash_rate: { rho0: 1.1 } } }, { alphaFail: 0.002, metrics: { install_failure: { policy: 'rollback' } } });
    expect(c.alphaFail).toBe(0.002);
    expect(c.grid).toEqual([2, 4]);
    expect(c.metrics.crash_rate.rho0).toBe(1.1);
    expect(c.metrics.crash_rate.policy).toBe('rollback');
    expect(c.metrics.install_failure.policy).toBe('rollback');
    expect(DEFAULT_GUARD_CONFIG.alphaFail).toBe(0.01);
  });

  it('rejects a grid point below ρ0, which would void the error guarantee', () => {
    expect(() => resolveGuardConfig({}, { grid: [1.1, 2] })).toThrow(InvalidGuardConfigError);
    expect(() => resolveGuardConfig({}, { grid: [1.1, 2] })).toThrow(/grid point must be ≥ metrics\.install_failure\.rho0/);
    expect(() => resolveGuardConfig({}, { alphaFail: 1.5 })).toThrow(/alphaFail/);
  });

  it('hashes canonical JSON, so key order does not change the hash but a value does', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] })).toBe('{"a":[{"c":3,"d":2}],"b":1}');
    const a = resolveGuardConfig({ alphaWarn: 0.05, alphaFail: 0.01 });
    const b = resolveGuardConfig({ alphaFail: 0.01, alphaWarn: 0.05 });
    expect(configHash(a)).toBe(configHash(b));
    expect(configHash(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(configHash(resolveGuardConfig({ alphaFail: 0.02 }))).not.toBe(configHash(a));
  });

  it('tests each platform plus the pooled segment, or the pooled segment alone for one platform', () => {
    expect(guardSegments(resolveGuardConfig())).toEqual(['android', 'ios', 'all']);
    expect(guardSegments(resolveGuardConfig({}, { platforms: ['ios'] }))).toEqual(['all']);
  });
});
