import { describe, expect, it } from 'vitest';
import { launchVerdict, rolledBackFrom, type VersionHistoryEvent } from '../../../src/metrics/launch-rules.js';
import { minutes } from './event-fixtures.js';

const I = Date.parse('2026-01-15T12:00:00Z');
const at = (m: number): number => I + minutes(m);
const h = (...events: Array<[VersionHistoryEvent['type'], number]>): VersionHistoryEvent[] =>
  events.map(([type, m]) => ({ type, at: at(m) }));

describe('launch verdict of one install', () => {
  it('is ok when app_ready arrives within 10 minutes and nothing failed before it', () => {
    expect(launchVerdict(I, h(['installed', 0], ['app_ready', 2]), at(30))).toBe('ok');
    // Crashes after a confirmed launch are crashes, not launch failures.
    expect(launchVerdict(I, h(['installed', 0], ['app_ready', 2], ['crash', 3]), at(30))).toBe('ok');
  });

  it('fails on a crash before the first app_ready, decided as soon as the crash is known', () => {
    expect(launchVerdict(I, h(['installed', 0], ['crash', 1]), at(1))).toBe('failed');
    expect(launchVerdict(I, h(['installed', 0], ['crash', 1], ['app_ready', 2]), at(30))).toBe('failed');
  });

  it('fails on a rollback before any app_ready, but not on a rollback after a timely one', () => {
    expect(launchVerdict(I, h(['installed', 0], ['rolled_back', 1]), at(1))).toBe('failed');
    expect(launchVerdict(I, h(['installed', 0], ['app_ready', 1], ['rolled_back', 20]), at(30))).toBe('ok');
  });

  it('applies the 10-minute rule only after the window and its grace have passed', () => {
    const silent = h(['installed', 0]);
    expect(launchVerdict(I, silent, at(9))).toBe('pending');
    expect(launchVerdict(I, silent, at(10.5))).toBe('pending');
    expect(launchVerdict(I, silent, at(11))).toBe('failed');
    // A late app_ready (after 10 minutes) does not save the launch.
    expect(launchVerdict(I, h(['installed', 0], ['app_ready', 12]), at(30))).toBe('failed');
    // An app_ready exactly at the deadline does.
    expect(launchVerdict(I, h(['installed', 0], ['app_ready', 10]), at(30))).toBe('ok');
  });

  it('ignores events from before the install', () => {
    expect(launchVerdict(I, h(['crash', -5], ['app_ready', -4], ['installed', 0], ['app_ready', 1]), at(30))).toBe('ok');
  });

  it('attributes a rollback to fromVersion when the device sent it', () => {
    expect(rolledBackFrom({ version: '1.0.0', fromVersion: '1.1.0' })).toBe('1.1.0');
    expect(rolledBackFrom({ version: '1.1.0' })).toBe('1.1.0');
  });
});
