import type { ClientBase } from 'pg';

/** How many rows each generated tenant gets. */
export interface TenantShape {
  /** Versions in auth.tenant_profile_s per tenant; the last one is current (load_end_date NULL). */
  readonly profileVersions: number;
  /** Users per tenant, each with a hub row in auth.user_h and one version in auth.user_profile_s. */
  readonly usersPerTenant: number;
}

/** Business key of generated tenant number `index`. */
export function tenantBkOf(index: number): string {
  return `BENCH_TENANT_${index}`;
}

// Every statement is one INSERT ... SELECT over generate_series, so the server builds the rows in
// bulk. Keys follow the platform's rules: hub keys are util.hash_binary of the business key and
// hash_diff is util.hash_concat of the descriptive columns in the order the table comment gives.
const INSERT_TENANT_HUBS_SQL = `
INSERT INTO auth.tenant_h (tenant_hk, tenant_bk, load_date, record_source)
SELECT util.hash_binary('BENCH_TENANT_' || tenant.number), 'BENCH_TENANT_' || tenant.number, TIMESTAMPTZ '2026-01-01 00:00:00+00', 'onevault-bench'
FROM generate_series($1::integer, $2::integer) AS tenant(number)`;

const INSERT_TENANT_PROFILES_SQL = `
INSERT INTO auth.tenant_profile_s (
    tenant_hk, load_date, load_end_date, hash_diff, tenant_name, tenant_type, tenant_status,
    max_users, compliance_frameworks, contact_email, is_active, record_source
)
SELECT util.hash_binary('BENCH_TENANT_' || tenant.number),
       TIMESTAMPTZ '2026-01-01 00:00:00+00' + version.number * INTERVAL '1 hour',
       CASE WHEN version.number < $3 THEN TIMESTAMPTZ '2026-01-01 00:00:00+00' + (version.number + 1) * INTERVAL '1 hour' END,
       util.hash_concat('Tenant ' || tenant.number || ' v' || version.number, 'STANDARD', 'ACTIVE', '100', '{}',
                        'admin' || tenant.number || '@tenant.invalid', 'true'),
       'Tenant ' || tenant.number || ' v' || version.number,
       'STANDARD',
       'ACTIVE',
       100,
       '{}'::text[],
       'admin' || tenant.number || '@tenant.invalid',
       true,
       'onevault-bench'
FROM generate_series($1::integer, $2::integer) AS tenant(number)
CROSS JOIN generate_series(1, $3::integer) AS version(number)`;

const INSERT_USER_HUBS_SQL = `
INSERT INTO auth.user_h (user_hk, user_bk, tenant_hk, load_date, record_source)
SELECT util.hash_binary('BENCH_USER_' || tenant.number || '_' || member.number),
       'user' || member.number || '@tenant' || tenant.number || '.invalid',
       util.hash_binary('BENCH_TENANT_' || tenant.number),
       TIMESTAMPTZ '2026-01-01 00:00:00+00',
       'onevault-bench'
FROM generate_series($1::integer, $2::integer) AS tenant(number)
CROSS JOIN generate_series(1, $3::integer) AS member(number)`;

const INSERT_USER_PROFILES_SQL = `
INSERT INTO auth.user_profile_s (user_hk, load_date, load_end_date, hash_diff, tenant_hk, first_name, last_name, email, is_active, record_source)
SELECT util.hash_binary('BENCH_USER_' || tenant.number || '_' || member.number),
       TIMESTAMPTZ '2026-01-01 00:00:00+00',
       NULL,
       util.hash_concat('User ' || member.number, 'Tenant ' || tenant.number, 'user' || member.number || '@tenant' || tenant.number || '.invalid', 'true'),
       util.hash_binary('BENCH_TENANT_' || tenant.number),
       'User ' || member.number,
       'Tenant ' || tenant.number,
       'user' || member.number || '@tenant' || tenant.number || '.invalid',
       true,
       'onevault-bench'
FROM generate_series($1::integer, $2::integer) AS tenant(number)
CROSS JOIN generate_series(1, $3::integer) AS member(number)`;

/**
 * Inserts tenants number `first` to `last` (inclusive) with their profile versions and users, in
 * four set-based statements. Requires migration V000. Returns the number of rows inserted.
 */
export async function insertTenants(client: ClientBase, first: number, last: number, shape: TenantShape): Promise<number> {
  if (last < first) return 0;

  let rows = 0;
  rows += (await client.query(INSERT_TENANT_HUBS_SQL, [first, last])).rowCount ?? 0;
  rows += (await client.query(INSERT_TENANT_PROFILES_SQL, [first, last, shape.profileVersions])).rowCount ?? 0;
  rows += (await client.query(INSERT_USER_HUBS_SQL, [first, last, shape.usersPerTenant])).rowCount ?? 0;
  rows += (await client.query(INSERT_USER_PROFILES_SQL, [first, last, shape.usersPerTenant])).rowCount ?? 0;
  return rows;
}
