import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../src/config.js';

const load = (env: Record<string, string>) => loadConfig({ NODE_ENV: 'test', ...env });

describe('privacy configuration', () => {
  it('has defaults: exports kept a week, duplicates linked for a day, deadlines every 15 minutes, purge daily', () => {
    expect(load({})).toMatchObject({
      exportTtlHours: 168,
      privacyDuplicateWindowHours: 24,
      privacyDeadlinesCron: '*/15 * * * *',
      retentionCron: '30 3 * * *',
      privacyDeviceRequestsPerHour: 1000,
    });
  });

  it('accepts valid values and `off` for the schedules', () => {
    expect(load({ EXPORT_TTL_HOURS: '1', PRIVACY_DUPLICATE_WINDOW_HOURS: '0', RETENTION_CRON: 'off', PRIVACY_DEADLINES_CRON: '0 */2 * * 1-5' })).toMatchObject({
      exportTtlHours: 1,
      privacyDuplicateWindowHours: 0,
      retentionCron: undefined,
      privacyDeadlinesCron: '0 */2 * * 1-5',
    });
  });

  it.each([
    ['EXPORT_TTL_HOURS', '0'],
    ['EXPORT_TTL_HOURS', '2161'],
    ['EXPORT_TTL_HOURS', '1.5'],
    ['PRIVACY_DUPLICATE_WINDOW_HOURS', '-1'],
    ['RETENTION_CRON', '* * *'],
    ['RETENTION_CRON', 'daily'],
    ['PRIVACY_DEADLINES_CRON', '*/15 * * * * *'],
    ['PRIVACY_DEVICE_REQUESTS_PER_HOUR', '0'],
  ])('refuses %s=%s naming the variable', (name, value) => {
    expect(() => load({ [name]: value })).toThrow(ConfigError);
    expect(() => load({ [name]: value })).toThrow(name);
  });
});
