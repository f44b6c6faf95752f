import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

function errorOf(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('applies defaults and freezes the result', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ port: 3000, role: 'all', guardBucketSeconds: 60, logLevel: 'info' });
    expect(config.masterKeyGenerated).toBe(true);
    expect(Object.isFrozen(config)).toBe(true);
    expect(config.counterRetentionDays).toEqual({ minute: 7, hour: 90 });
    expect(loadConfig({ METRIC_MINUTE_RETENTION_DAYS: '2', METRIC_HOUR_RETENTION_DAYS: '400' }).counterRetentionDays).toEqual({ minute: 2, hour: 400 });
  });

  it('names the variable that is invalid', () => {
    expect(errorOf({ PORT: 'eighty' }).variable).toBe('PORT');
    expect(errorOf({ ROLE: 'scheduler' }).variable).toBe('ROLE');
    expect(errorOf({ GUARD_BUCKET_SECONDS: '0' }).variable).toBe('GUARD_BUCKET_SECONDS');
    expect(errorOf({ MONGODB_URL: 'postgres://x' }).variable).toBe('MONGODB_URL');
    expect(errorOf({ REDIS_URL: 'not a url' }).variable).toBe('REDIS_URL');
    expect(errorOf({ LOG_LEVEL: 'loud' }).variable).toBe('LOG_LEVEL');
    expect(errorOf({ MASTER_KEY: 'abcd' }).variable).toBe('MASTER_KEY');
    expect(errorOf({ BOOTSTRAP_ADMIN_KEY: 'short' }).variable).toBe('BOOTSTRAP_ADMIN_KEY');
    expect(errorOf({ METRIC_MINUTE_RETENTION_DAYS: '0' }).variable).toBe('METRIC_MINUTE_RETENTION_DAYS');
  });

  it('requires MASTER_KEY in production', () => {
    expect(errorOf({ NODE_ENV: 'production' }).message).toBe('MASTER_KEY: is required in production');
    const key = 'ab'.repeat(32);
    expect(loadConfig({ NODE_ENV: 'production', MASTER_KEY: key }).masterKey.toString('hex')).toBe(key);
  });
});
