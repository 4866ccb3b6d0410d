import type { ClientBase } from 'pg';

import { expectEqual, expectThat, groupOf, listText, type CheckGroup } from './check-result';
import { SYSTEM_OPERATIONS } from './system-operations';

interface TenantProfile {
  readonly tenant_name: string;
  readonly tenant_type: string;
  readonly tenant_status: string;
  readonly max_users: number;
  readonly compliance_frameworks: string[];
  readonly is_active: boolean;
}

const CURRENT_PROFILE_SQL = `SELECT tenant_name, tenant_type, tenant_status, max_users, compliance_frameworks, is_active
FROM auth.tenant_profile_s
WHERE tenant_hk = decode($1, 'hex')
  AND load_end_date IS NULL`;

/** Returns `1 current profile`, `0 current profiles` and so on. */
export function profileCountText(count: number): string {
  return `${count} current ${count === 1 ? 'profile' : 'profiles'}`;
}

/** Reads the current profile versions of the system tenant; a correct deployment has exactly one. */
async function readCurrentProfiles(client: ClientBase): Promise<TenantProfile[]> {
  return (await client.query<TenantProfile>(CURRENT_PROFILE_SQL, [SYSTEM_OPERATIONS.tenantHkHex])).rows;
}

/** Returns the single current profile, or a FAILED outcome's text when there is not exactly one. */
async function readSingleProfile(client: ClientBase): Promise<TenantProfile | string> {
  const profiles = await readCurrentProfiles(client);
  return profiles.length === 1 ? profiles[0] : profileCountText(profiles.length);
}

export const systemTenantChecks: CheckGroup = groupOf('system tenant', [
  {
    name: 'tenant hub has the fixed key',
    run: async (context) => {
      const rows = (
        await context.client.query<{ tenant_hk: string; tenant_bk: string }>(
          `SELECT encode(tenant_hk, 'hex') AS tenant_hk, tenant_bk FROM auth.tenant_h WHERE tenant_hk = decode($1, 'hex') OR tenant_bk = $2`,
          [SYSTEM_OPERATIONS.tenantHkHex, SYSTEM_OPERATIONS.tenantBk],
        )
      ).rows;
      const found = listText(rows.map((row) => `${row.tenant_bk} ${row.tenant_hk}`));
      return expectEqual(found, listText([`${SYSTEM_OPERATIONS.tenantBk} ${SYSTEM_OPERATIONS.tenantHkHex}`]));
    },
  },
  {
    name: 'exactly one current profile',
    run: async (context) => expectEqual(profileCountText((await readCurrentProfiles(context.client)).length), profileCountText(1), 'A current profile has load_end_date NULL.'),
  },
  {
    name: 'profile name',
    run: async (context) => {
      const profile = await readSingleProfile(context.client);
      return expectEqual(typeof profile === 'string' ? profile : profile.tenant_name, SYSTEM_OPERATIONS.tenantName);
    },
  },
  {
    name: 'profile type is SYSTEM',
    run: async (context) => {
      const profile = await readSingleProfile(context.client);
      return expectEqual(typeof profile === 'string' ? profile : profile.tenant_type, SYSTEM_OPERATIONS.tenantType);
    },
  },
  {
    name: 'profile status is ACTIVE',
    run: async (context) => {
      const profile = await readSingleProfile(context.client);
      const found = typeof profile === 'string' ? profile : `${profile.tenant_status}, is_active ${profile.is_active}`;
      return expectEqual(found, `${SYSTEM_OPERATIONS.tenantStatus}, is_active true`);
    },
  },
  {
    name: 'profile allows 999 users',
    run: async (context) => {
      const profile = await readSingleProfile(context.client);
      return expectEqual(typeof profile === 'string' ? profile : String(profile.max_users), String(SYSTEM_OPERATIONS.maxUsers));
    },
  },
  {
    name: 'compliance frameworks are set',
    run: async (context) => {
      const profile = await readSingleProfile(context.client);
      if (typeof profile === 'string') return expectThat(false, profile, 'at least one compliance framework');
      return expectThat(profile.compliance_frameworks.length > 0, listText(profile.compliance_frameworks), 'at least one compliance framework');
    },
  },
]);
