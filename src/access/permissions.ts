/** Roles and what each may do. Every admin route declares one permission; this table decides. */
export const API_ROLES = ['admin', 'developer', 'qa', 'monitoring', 'privacy'] as const;
export type ApiRole = (typeof API_ROLES)[number];

export const PERMISSIONS = [
  'apps:read',
  'apps:write',
  'api-keys:manage',
  'webhooks:manage',
  'releases:read',
  'releases:write',
  'rollouts:read',
  'rollouts:write',
  'channels:write',
  'metrics:read',
  'incidents:read',
  'incidents:write',
  'privacy:manage',
  'audit:read',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

const READ_RELEASES: Permission[] = ['apps:read', 'releases:read', 'rollouts:read', 'metrics:read', 'incidents:read'];

/**
 * From the product brief: admins manage everything; developers release and roll out on their channels;
 * QA works on beta/test channels; monitoring reads metrics, incidents and the audit log; privacy handles
 * privacy requests. The README's roles table is checked against this one by test/unit/access.
 */
export const ROLE_PERMISSIONS: Record<ApiRole, ReadonlySet<Permission>> = {
  admin: new Set<Permission>(PERMISSIONS),
  developer: new Set<Permission>([...READ_RELEASES, 'releases:write', 'rollouts:write', 'channels:write', 'incidents:write']),
  qa: new Set<Permission>([...READ_RELEASES, 'releases:write', 'rollouts:write']),
  monitoring: new Set<Permission>([...READ_RELEASES, 'audit:read']),
  privacy: new Set<Permission>(['apps:read', 'privacy:manage']),
};

/** Channels QA may touch when its key names none. */
export const QA_DEFAULT_CHANNELS: readonly string[] = ['beta', 'test', 'qa', 'staging'];

export function roleAllows(role: ApiRole, permission: Permission): boolean {
  return ROLE_PERMISSIONS[role].has(permission);
}

/** The channels a key may act on: undefined means every channel. */
export function allowedChannels(key: { role: ApiRole; channels: readonly string[] }): readonly string[] | undefined {
  if (key.channels.length > 0) return key.channels;
  return key.role === 'qa' ? QA_DEFAULT_CHANNELS : undefined;
}

/** The apps a key may act on: undefined means every app. */
export function allowedApps(key: { appIds: readonly string[] }): readonly string[] | undefined {
  return key.appIds.length > 0 ? key.appIds : undefined;
}
