import type { ClientBase } from 'pg';

import { postgresFieldsOf } from '../errors';
import { hasMigrationLog, readMigrationRuns, summarizeRuns } from '../migrations/history';
import { API_EXECUTE_QUERY, APP_API_FUNCTION, findApiExecuteDifferences, findPolicyDifferences, TENANT_POLICIES_QUERY } from './compare-isolation';
import type { HealthFinding } from './health-report';

/** The migration that enables and forces row level security, with an isolation policy, on every tenant-scoped table. */
const ISOLATION_VERSION = 'V002';
const ISOLATION_POLICY = 'onevault_tenant_isolation';

/** Tables with a tenant_hk column in the schemas that V002 isolates, with their row level security state. */
export const TENANT_TABLES_QUERY = `SELECT format('%I.%I', n.nspname, c.relname) AS name,
       c.relrowsecurity AS row_security,
       c.relforcerowsecurity AS row_security_forced,
       EXISTS (SELECT 1 FROM pg_catalog.pg_policy AS p WHERE p.polrelid = c.oid AND p.polname = '${ISOLATION_POLICY}') AS has_isolation_policy
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname IN ('auth', 'raw', 'staging', 'audit')
  AND c.relkind IN ('r', 'p')
  AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a WHERE a.attrelid = c.oid AND a.attname = 'tenant_hk' AND NOT a.attisdropped)
ORDER BY 1`;

// A NULL ACL stands for the default privileges, which give EXECUTE on functions to PUBLIC, so
// acldefault supplies them.
export const API_PUBLIC_EXECUTE_QUERY = `SELECT format('api.%I(%s)', p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid)) AS name
FROM pg_catalog.pg_proc AS p
JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
WHERE n.nspname = 'api'
  AND EXISTS (
    SELECT 1
    FROM pg_catalog.aclexplode(COALESCE(p.proacl, pg_catalog.acldefault('f', p.proowner))) AS acl
    WHERE acl.grantee = 0
      AND acl.privilege_type = 'EXECUTE'
  )
ORDER BY 1`;

interface TenantTable {
  readonly name: string;
  readonly row_security: boolean;
  readonly row_security_forced: boolean;
  readonly has_isolation_policy: boolean;
}

/**
 * Checks tenant isolation. Once V002 is applied, every tenant-scoped table must have row level
 * security enabled and forced and exactly the policies of V002, unchanged, and EXECUTE on the
 * functions of schema `api` must match the grants of V002. Before V002, no api function may be
 * executable by PUBLIC. Read-only. Each fault is a critical finding.
 */
export async function readTenantIsolation(client: ClientBase): Promise<HealthFinding[]> {
  return [...(await checkRowLevelSecurity(client)), await checkApiExecute(client)];
}

async function checkRowLevelSecurity(client: ClientBase): Promise<HealthFinding[]> {
  if (!(await isIsolationApplied(client))) {
    return [{ name: 'row level security', status: 'ok', summary: `not checked: ${ISOLATION_VERSION} is not applied, so no table is isolated by tenant yet`, query: TENANT_TABLES_QUERY }];
  }

  const tables = (await client.query<TenantTable>(TENANT_TABLES_QUERY)).rows;
  const notEnabled = tables.filter((table) => !table.row_security).map((table) => table.name);
  const notForced = tables.filter((table) => table.row_security && !table.row_security_forced).map((table) => table.name);

  const security: HealthFinding =
    notEnabled.length === 0 && notForced.length === 0
      ? { name: 'row level security', status: 'ok', summary: `enabled and forced on all ${tables.length} tenant-scoped tables`, query: TENANT_TABLES_QUERY }
      : {
          name: 'row level security',
          status: 'critical',
          summary: [
            notEnabled.length > 0 ? `disabled on ${notEnabled.join(', ')}` : '',
            notForced.length > 0 ? `not forced on ${notForced.join(', ')}` : '',
          ].filter((part) => part !== '').join('; ') + `; expected ENABLE and FORCE ROW LEVEL SECURITY on every tenant-scoped table, as ${ISOLATION_VERSION} sets them (onevault deploy --reapply restores them)`,
          query: TENANT_TABLES_QUERY,
        };
  const policyDifferences = await readPolicyDifferences(client);
  const policies: HealthFinding =
    typeof policyDifferences === 'string'
      ? { name: 'tenant isolation policies', status: 'critical', summary: `could not be read: ${policyDifferences}`, query: TENANT_POLICIES_QUERY }
      : policyDifferences.length === 0
      ? { name: 'tenant isolation policies', status: 'ok', summary: `on all ${tables.length} tenant-scoped tables exactly the policies ${ISOLATION_POLICY} and onevault_migration_owner, as ${ISOLATION_VERSION} defines them`, query: TENANT_POLICIES_QUERY }
      : {
          name: 'tenant isolation policies',
          status: 'critical',
          summary: `${policyDifferences.join('; ')}; expected only the policies of ${ISOLATION_VERSION} on every tenant-scoped table (onevault deploy --reapply restores them; DROP POLICY any extra one)`,
          query: TENANT_POLICIES_QUERY,
        };
  return [security, policies];
}

const SQLSTATE_LOCK_NOT_AVAILABLE = '55P03';

/**
 * Returns the policy differences, or the reason they could not be read. pg_policies prints each
 * expression with pg_get_expr, which waits for a lock on the table. A table locked by another
 * session therefore makes the read time out, and that becomes a finding instead of an error.
 */
async function readPolicyDifferences(client: ClientBase): Promise<string[] | string> {
  try {
    return await findPolicyDifferences(client);
  } catch (error) {
    if (postgresFieldsOf(error)?.sqlstate !== SQLSTATE_LOCK_NOT_AVAILABLE) throw error;
    return `timed out waiting for a lock held by another session (${(error as Error).message})`;
  }
}

async function checkApiExecute(client: ClientBase): Promise<HealthFinding> {
  if (await isIsolationApplied(client)) {
    const differences = await findApiExecuteDifferences(client);
    if (differences.length === 0) return { name: 'api function privileges', status: 'ok', summary: `EXECUTE on api functions as ${ISOLATION_VERSION} grants it: onevault_app only ${APP_API_FUNCTION}, onevault_system_operations all, PUBLIC none`, query: API_EXECUTE_QUERY };
    return {
      name: 'api function privileges',
      status: 'critical',
      summary: `${differences.join('; ')}; expected EXECUTE for onevault_app on ${APP_API_FUNCTION} only, for onevault_system_operations on every api function, for no other role (REVOKE EXECUTE ON FUNCTION ... FROM the roles listed)`,
      query: API_EXECUTE_QUERY,
    };
  }

  const open = (await client.query<{ name: string }>(API_PUBLIC_EXECUTE_QUERY)).rows.map((row) => row.name);
  if (open.length === 0) return { name: 'api function privileges', status: 'ok', summary: 'no api function is executable by PUBLIC', query: API_PUBLIC_EXECUTE_QUERY };
  return {
    name: 'api function privileges',
    status: 'critical',
    summary: `executable by PUBLIC: ${open.join(', ')}; expected EXECUTE only for the application roles (REVOKE EXECUTE ON FUNCTION ... FROM PUBLIC)`,
    query: API_PUBLIC_EXECUTE_QUERY,
  };
}

/** Returns true when the migration log records V002 as applied, so that its isolation must be in place. */
export async function isIsolationApplied(client: ClientBase): Promise<boolean> {
  if (!(await hasMigrationLog(client))) return false;
  return summarizeRuns(await readMigrationRuns(client)).get(ISOLATION_VERSION)?.applied === true;
}
