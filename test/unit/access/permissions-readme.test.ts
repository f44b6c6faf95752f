import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { API_ROLES, PERMISSIONS, ROLE_PERMISSIONS } from '../../../src/access/permissions.js';

/** The README's roles table is what operators read: it must say exactly what src/access/permissions.ts does. */
describe('README roles and permissions table', () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('### Roles and permissions'), readme.indexOf('### API keys'));
  const header = section.split('\n').find((line) => line.startsWith('| permission |'));
  const rows = section.split('\n').filter((line) => /^\| `[a-z-]+:[a-z]+` \|/.test(line));

  it('has one column per role and one row per permission', () => {
    const roles = header!.split('|').map((c) => c.trim()).slice(3, -1);
    expect(roles).toEqual([...API_ROLES]);
    expect(rows.map((row) => /`([^`]+)`/.exec(row)?.[1])).toEqual([...PERMISSIONS]);
  });

  it('ticks exactly the permissions each role holds', () => {
    for (const row of rows) {
      const cells = row.split('|').map((c) => c.trim());
      const permission = /`([^`]+)`/.exec(cells[1]!)![1]!;
      API_ROLES.forEach((role, i) => {
        expect(cells[3 + i] === '✓', `${role} × ${permission}`).toBe(ROLE_PERMISSIONS[role].has(permission as never));
      });
    }
  });
});
