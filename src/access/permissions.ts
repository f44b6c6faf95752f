/** Roles and what each may do. Every admin route declares one permission; this table decides. */
export const API_ROLES = ['admin', 'developer', 'qa', 'monitoring', 'privacy'] as const;
export type ApiRole = (typeof API_ROLES)[number];

export type Permission =
  | 'apps:read'
  | 'apps:write'
  | 'api-keys:manage'
  | 'webhooks:manage'
  | 'releases:read'
  | 'releases:write'
  | 'rollouts:read'
  | 'rollouts:write'
  | 'channels:write'
  | 'metrics:read'
  | 'incidents:read'
  | 'privacy:manage'
  | 'audit:read';

const READ_RELEASES: Permission[] = ['apps:read', 'releases:read', 'rollouts:read', 'metrics:read', 'incidents:read'];

export const ROLE_PERMISSIONS: Record<ApiRole, ReadonlySet<Permission>> = {
  admin: new Set<Permission>([
    ...READ_RELEASES,
    'apps:write',
    'api-keys:manage',
    'webhooks:manage',
    'releases:write',
    'rollouts:write',
    'channels:write',
    'privacy:manage',
    'audit:read',
  ]),
  developer: new Set<Permission>([...READ_RELEASES, 'releases:write', 'rollouts:write', 'channels:write']),
  qa: new Set<Permission>([...READ_RELEASES, 'releases:write', 'rollouts:write']),
  monitoring: new Set<Permission>([...READ_RELEASES, 'audit:read']),
  privacy: new Set<Permission>(['apps:read', 'privacy:manage']),
};

/** Channels QA may touch when its key names none. */
export const QA_DEFAULT_CHANNELS: readonly string[] = ['beta', 'test', 'qa', 'staging'];

export function roleAllows(role: ApiRole, permission: Permission): boolean {
  return ROLE_PERMISSIONS[role].has(permission);
}
