import type { ClientBase } from 'pg';

import { expectEqual, groupOf, listText, type CheckGroup } from './check-result';
import { SYSTEM_OPERATIONS } from './system-operations';
import { profileCountText } from './system-tenant';

interface RoleProfile {
  readonly role_name: string;
  readonly role_type: string;
  readonly is_system_role: boolean;
  readonly permissions: string[];
}

async function readCurrentRoleProfiles(client: ClientBase): Promise<RoleProfile[]> {
  const result = await client.query<RoleProfile>(
    `SELECT role_name, role_type, is_system_role, permissions
     FROM auth.role_profile_s
     WHERE role_hk = decode($1, 'hex')
       AND load_end_date IS NULL`,
    [SYSTEM_OPERATIONS.roleHkHex],
  );
  return result.rows;
}

async function readSingleRoleProfile(client: ClientBase): Promise<RoleProfile | string> {
  const profiles = await readCurrentRoleProfiles(client);
  return profiles.length === 1 ? profiles[0] : profileCountText(profiles.length);
}

export const systemRoleChecks: CheckGroup = groupOf('system role', [
  {
    name: 'role hub belongs to the system tenant',
    run: async (context) => {
      const rows = (
        await context.client.query<{ role_bk: string; tenant_hk: string }>(
          `SELECT role_bk, encode(tenant_hk, 'hex') AS tenant_hk FROM auth.role_h WHERE role_hk = decode($1, 'hex')`,
          [SYSTEM_OPERATIONS.roleHkHex],
        )
      ).rows;
      const found = listText(rows.map((row) => `${row.role_bk} of tenant ${row.tenant_hk}`));
      return expectEqual(found, listText([`${SYSTEM_OPERATIONS.roleBk} of tenant ${SYSTEM_OPERATIONS.tenantHkHex}`]), `role_hk is sha256('${SYSTEM_OPERATIONS.roleBk}') = ${SYSTEM_OPERATIONS.roleHkHex}.`);
    },
  },
  {
    name: 'exactly one current role profile',
    run: async (context) => expectEqual(profileCountText((await readCurrentRoleProfiles(context.client)).length), profileCountText(1)),
  },
  {
    name: 'role is a SYSTEM role',
    run: async (context) => {
      const profile = await readSingleRoleProfile(context.client);
      const found = typeof profile === 'string' ? profile : `${profile.role_name}, type ${profile.role_type}`;
      return expectEqual(found, `${SYSTEM_OPERATIONS.roleName}, type ${SYSTEM_OPERATIONS.roleType}`);
    },
  },
  {
    name: 'role has the system flag',
    run: async (context) => {
      const profile = await readSingleRoleProfile(context.client);
      return expectEqual(typeof profile === 'string' ? profile : `is_system_role ${profile.is_system_role}`, 'is_system_role true');
    },
  },
  {
    name: 'role has all six permissions',
    run: async (context) => {
      const profile = await readSingleRoleProfile(context.client);
      const found = typeof profile === 'string' ? profile : listText([...profile.permissions].sort());
      return expectEqual(found, listText([...SYSTEM_OPERATIONS.permissions].sort()), 'The set must match exactly: a missing permission breaks operations, an extra one grants more than the package defines.');
    },
  },
]);
