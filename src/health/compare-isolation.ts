import type { ClientBase } from 'pg';

/** Schemas whose tables with a tenant_hk column V002 isolates by tenant. */
const TENANT_TABLES_CONDITION = `n.nspname IN ('auth', 'raw', 'staging', 'audit')
  AND c.relkind IN ('r', 'p')
  AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a WHERE a.attrelid = c.oid AND a.attname = 'tenant_hk' AND NOT a.attisdropped)`;

/**
 * The isolation expression of V002 as pg_policies shows it on PostgreSQL 15: the server stores the
 * parsed tree and prints it back in this form, not as the source text of the migration.
 * Both USING and WITH CHECK of policy onevault_tenant_isolation are this expression.
 */
export const ISOLATION_EXPRESSION =
  "((tenant_hk = decode(NULLIF(current_setting('onevault.current_tenant_hk'::text, true), ''::text), 'hex'::text))" +
  " AND ((tenant_hk <> ALL (ARRAY[decode('0000000000000000000000000000000000000000000000000000000000000001'::text, 'hex'::text)," +
  " decode('0000000000000000000000000000000000000000000000000000000000000000'::text, 'hex'::text)]))" +
  " OR pg_has_role('onevault_system_operations'::name, 'MEMBER'::text)))";

/** Every policy on a tenant-scoped table, with the role that owns the api functions (the migration owner). */
export const TENANT_POLICIES_QUERY = `SELECT format('%I.%I', n.nspname, c.relname) AS table_name,
       p.policyname AS policy_name,
       p.permissive,
       p.roles::text[] AS roles,
       p.cmd,
       p.qual,
       p.with_check
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_policies AS p ON p.schemaname = n.nspname AND p.tablename = c.relname
WHERE ${TENANT_TABLES_CONDITION}
ORDER BY 1, 2`;

/** The role that ran V002: it owns the SECURITY DEFINER api functions and is the role of policy onevault_migration_owner. */
const MIGRATION_OWNER_QUERY = `SELECT pg_catalog.pg_get_userbyid(p.proowner) AS owner
FROM pg_catalog.pg_proc AS p
WHERE p.oid = pg_catalog.to_regprocedure('api.tenant_register(jsonb)')`;

/**
 * Every EXECUTE grant on a function of schema api except the owner's, by function name and
 * argument types (`api.tenant_register(jsonb)`). A NULL ACL stands for the
 * default privileges, which give EXECUTE to PUBLIC, so acldefault supplies them.
 */
export const API_EXECUTE_QUERY = `SELECT format('api.%I(%s)', p.proname, pg_catalog.oidvectortypes(p.proargtypes)) AS function_name,
       COALESCE(array_agg(CASE WHEN acl.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(acl.grantee)::text END)
                FILTER (WHERE acl.grantee IS NOT NULL), ARRAY[]::text[]) AS grantees
FROM pg_catalog.pg_proc AS p
JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
LEFT JOIN LATERAL pg_catalog.aclexplode(COALESCE(p.proacl, pg_catalog.acldefault('f', p.proowner))) AS acl
  ON acl.privilege_type = 'EXECUTE' AND acl.grantee <> p.proowner
WHERE n.nspname = 'api'
GROUP BY p.oid, p.proname
ORDER BY 1`;

/** The only api function that onevault_app may execute, as V002 grants it. */
export const APP_API_FUNCTION = 'api.tenant_register(jsonb)';

interface PolicyDefinition {
  readonly permissive: string;
  readonly roles: readonly string[];
  readonly cmd: string;
  readonly qual: string | null;
  readonly with_check: string | null;
}

interface PolicyRow extends PolicyDefinition {
  readonly table_name: string;
  readonly policy_name: string;
}

/**
 * Compares every policy on each tenant-scoped table with the two that V002 creates:
 * onevault_tenant_isolation (permissive, for all commands, to PUBLIC, USING and WITH CHECK
 * ISOLATION_EXPRESSION) and onevault_migration_owner (permissive, for all commands, to the
 * migration owner, USING and WITH CHECK true). Returns one line per missing, changed or extra
 * policy, or none. Read-only. Call it only once V002 is applied.
 */
export async function findPolicyDifferences(client: ClientBase): Promise<string[]> {
  const owner = (await client.query<{ owner: string }>(MIGRATION_OWNER_QUERY)).rows[0]?.owner;
  const expected = new Map<string, PolicyDefinition>([
    ['onevault_tenant_isolation', { permissive: 'PERMISSIVE', roles: ['public'], cmd: 'ALL', qual: ISOLATION_EXPRESSION, with_check: ISOLATION_EXPRESSION }],
    ['onevault_migration_owner', { permissive: 'PERMISSIVE', roles: [owner ?? 'the owner of api.tenant_register(jsonb)'], cmd: 'ALL', qual: 'true', with_check: 'true' }],
  ]);

  const tables = (await client.query<{ table_name: string }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS table_name
     FROM pg_catalog.pg_class AS c
     JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
     WHERE ${TENANT_TABLES_CONDITION}
     ORDER BY 1`,
  )).rows.map((row) => row.table_name);
  const policies = (await client.query<PolicyRow>(TENANT_POLICIES_QUERY)).rows;

  const differences: string[] = [];
  for (const table of tables) {
    const onTable = policies.filter((policy) => policy.table_name === table);
    for (const [name, definition] of expected) {
      const found = onTable.find((policy) => policy.policy_name === name);
      if (found === undefined) {
        differences.push(`${table}: policy ${name} missing`);
        continue;
      }
      const changed = describeChanges(found, definition);
      if (changed.length > 0) differences.push(`${table}: policy ${name} ${changed.join(', ')}`);
    }
    for (const extra of onTable.filter((policy) => !expected.has(policy.policy_name))) {
      differences.push(`${table}: extra ${extra.permissive.toLowerCase()} policy ${extra.policy_name} for ${extra.cmd} to ${extra.roles.join(', ')} USING (${extra.qual ?? ''})`);
    }
  }
  return differences;
}

function describeChanges(found: PolicyDefinition, expected: PolicyDefinition): string[] {
  const changes: string[] = [];
  if (found.permissive !== expected.permissive) changes.push(`is ${found.permissive}, expected ${expected.permissive}`);
  if (found.roles.join(',') !== expected.roles.join(',')) changes.push(`applies to ${found.roles.join(', ')}, expected ${expected.roles.join(', ')}`);
  if (found.cmd !== expected.cmd) changes.push(`is for ${found.cmd}, expected ${expected.cmd}`);
  if (found.qual !== expected.qual) changes.push(`has USING (${found.qual ?? ''}), expected the V002 expression`);
  if (found.with_check !== expected.with_check) changes.push(`has WITH CHECK (${found.with_check ?? ''}), expected the V002 expression`);
  return changes;
}

/**
 * Compares EXECUTE on every api function with the grants of V002: onevault_app may execute only
 * api.tenant_register(jsonb), onevault_system_operations every api function, PUBLIC and any other
 * role none. The owner is not compared. Returns one line per function whose grantees differ.
 * Read-only.
 */
export async function findApiExecuteDifferences(client: ClientBase): Promise<string[]> {
  const functions = (await client.query<{ function_name: string; grantees: string[] }>(API_EXECUTE_QUERY)).rows;
  const differences: string[] = [];
  for (const { function_name: name, grantees: unsorted } of functions) {
    const grantees = [...unsorted].sort();
    const expected = name === APP_API_FUNCTION ? ['onevault_app', 'onevault_system_operations'] : ['onevault_system_operations'];
    const unexpected = grantees.filter((grantee) => !expected.includes(grantee));
    const missing = expected.filter((grantee) => !grantees.includes(grantee));
    const parts = [
      unexpected.length > 0 ? `executable by ${unexpected.join(', ')}` : '',
      missing.length > 0 ? `not executable by ${missing.join(', ')}` : '',
    ].filter((part) => part !== '');
    if (parts.length > 0) differences.push(`${name} ${parts.join(' and ')}`);
  }
  return differences;
}
