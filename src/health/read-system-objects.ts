import type { ClientBase } from 'pg';

import { postgresFieldsOf } from '../errors';
import { SYSTEM_OPERATIONS } from '../deployment-tests/system-operations';
import type { HealthFinding, IndexUsage, LastDeployment } from './health-report';

export const SYSTEM_TENANT_QUERY = `SELECT encode(tenant_hk, 'hex') AS tenant_hk, tenant_bk, load_date
FROM auth.tenant_h
WHERE tenant_bk = 'SYSTEM_OPERATIONS'`;

export const SYSTEM_PROFILE_QUERY = `SELECT tenant_name, tenant_type, tenant_status, is_active, max_users
FROM auth.tenant_profile_s
WHERE tenant_hk = decode('${SYSTEM_OPERATIONS.tenantHkHex}', 'hex')
  AND load_end_date IS NULL`;

export const FUNCTION_VALUE_QUERY = `SELECT encode(util.get_system_operations_tenant_hk(), 'hex') AS tenant_hk`;

export const ROLE_PERMISSIONS_QUERY = `SELECT permissions
FROM auth.role_profile_s
WHERE role_name = 'System Operations Administrator'
  AND load_end_date IS NULL`;

export const INDEX_USAGE_QUERY = `SELECT s.schemaname, s.relname, s.indexrelname, s.idx_scan, s.idx_tup_read, s.idx_tup_fetch,
       pg_relation_size(s.indexrelid) AS size_bytes, i.indisvalid
FROM pg_stat_user_indexes AS s
JOIN pg_index AS i ON i.indexrelid = s.indexrelid
WHERE s.indexrelname LIKE '%system%'
ORDER BY s.schemaname, s.indexrelname`;

// Rows written by onevault repair record a checksum correction, not a deployment, so they are
// left out: a repair row is a FORWARD SUCCESS row and would otherwise read as a deploy.
export const LAST_DEPLOYMENT_QUERY = `SELECT version, name, direction, status, started_at, finished_at, executed_by, executed_via, error_message,
       error_detail->>'code' AS error_code, error_detail->>'sqlstate' AS error_sqlstate
FROM util.migration_log
WHERE details->>'repair' IS DISTINCT FROM 'true'
ORDER BY migration_log_id DESC
LIMIT 1`;

/** SQLSTATE dependent_objects_still_exist, raised by a rollback file that rejects dropping objects still in use. */
const SQLSTATE_DEPENDENT_OBJECTS = '2BP01';

export interface SystemObjectsHealth {
  readonly findings: readonly HealthFinding[];
  readonly systemTenant: { readonly tenantHk: string; readonly tenantBk: string; readonly loadDate: Date } | null;
  readonly functionValue: string | null;
  readonly rolePermissions: readonly string[] | null;
  readonly indexUsage: readonly IndexUsage[];
  readonly lastDeployment: LastDeployment | null;
}

/**
 * Runs the package's health queries (system tenant row and current profile, function value, role permissions), reads
 * the usage statistics of the system indexes and the latest migration log row. Read-only. A
 * missing table or function becomes a critical finding, not an error.
 */
export async function readSystemObjects(client: ClientBase, deployLockHeld: boolean): Promise<SystemObjectsHealth> {
  const findings: HealthFinding[] = [];

  const systemTenant = await guarded('system tenant', SYSTEM_TENANT_QUERY, findings, null, () => readSystemTenant(client, findings));
  await guarded('system tenant profile', SYSTEM_PROFILE_QUERY, findings, null, () => readSystemProfile(client, findings));
  const functionValue = await guarded('system tenant function', FUNCTION_VALUE_QUERY, findings, null, () => readFunctionValue(client, findings));
  const rolePermissions = await guarded('system role permissions', ROLE_PERMISSIONS_QUERY, findings, null, () => readRolePermissions(client, findings));
  const indexUsage = await guarded('system indexes', INDEX_USAGE_QUERY, findings, [], () => readIndexUsage(client, findings));
  const lastDeployment = await guarded('last deployment', LAST_DEPLOYMENT_QUERY, findings, null, () => readLastDeployment(client, findings, deployLockHeld));

  return { findings, systemTenant, functionValue, rolePermissions, indexUsage, lastDeployment };
}

const SQLSTATE_LOCK_NOT_AVAILABLE = '55P03';
const SQLSTATE_QUERY_CANCELED = '57014';

/**
 * Runs one read and turns a lock or statement timeout into a critical finding, so that a table
 * locked by another session is reported instead of stalling the whole health check.
 */
async function guarded<T>(name: string, query: string, findings: HealthFinding[], fallback: T, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    const sqlstate = postgresFieldsOf(error)?.sqlstate;
    if (sqlstate !== SQLSTATE_LOCK_NOT_AVAILABLE && sqlstate !== SQLSTATE_QUERY_CANCELED) throw error;
    const reason = sqlstate === SQLSTATE_LOCK_NOT_AVAILABLE ? 'timed out waiting for a lock held by another session' : 'timed out';
    findings.push({ name, status: 'critical', summary: `could not be read: ${reason} (${(error as Error).message})`, query });
    return fallback;
  }
}

async function existingRelations(client: ClientBase, names: readonly string[]): Promise<Set<string>> {
  const result = await client.query<{ name: string }>('SELECT name FROM unnest($1::text[]) AS name WHERE to_regclass(name) IS NOT NULL', [names]);
  return new Set(result.rows.map((row) => row.name));
}

async function readSystemTenant(client: ClientBase, findings: HealthFinding[]): Promise<SystemObjectsHealth['systemTenant']> {
  if ((await existingRelations(client, ['auth.tenant_h'])).size === 0) {
    findings.push({ name: 'system tenant', status: 'critical', summary: 'table auth.tenant_h does not exist; expected the platform foundation (V000) and V001 to be deployed', query: SYSTEM_TENANT_QUERY });
    return null;
  }

  const rows = (await client.query<{ tenant_hk: string; tenant_bk: string; load_date: Date }>(SYSTEM_TENANT_QUERY)).rows;
  if (rows.length !== 1 || rows[0].tenant_hk !== SYSTEM_OPERATIONS.tenantHkHex) {
    const found = rows.length === 0 ? 'no row' : rows.map((row) => `tenant_hk ${row.tenant_hk}`).join(', ');
    findings.push({ name: 'system tenant', status: 'critical', summary: `found ${found} for tenant_bk SYSTEM_OPERATIONS; expected one row with tenant_hk ${SYSTEM_OPERATIONS.tenantHkHex}`, query: SYSTEM_TENANT_QUERY });
    return rows.length === 0 ? null : { tenantHk: rows[0].tenant_hk, tenantBk: rows[0].tenant_bk, loadDate: rows[0].load_date };
  }

  findings.push({ name: 'system tenant', status: 'ok', summary: `tenant_hk ${rows[0].tenant_hk}, loaded ${rows[0].load_date.toISOString()}`, query: SYSTEM_TENANT_QUERY });
  return { tenantHk: rows[0].tenant_hk, tenantBk: rows[0].tenant_bk, loadDate: rows[0].load_date };
}

/** Compares the current profile of the system tenant with the values V001 writes; any other value is critical. */
async function readSystemProfile(client: ClientBase, findings: HealthFinding[]): Promise<null> {
  const name = 'system tenant profile';
  if ((await existingRelations(client, ['auth.tenant_profile_s'])).size === 0) {
    findings.push({ name, status: 'critical', summary: 'table auth.tenant_profile_s does not exist', query: SYSTEM_PROFILE_QUERY });
    return null;
  }

  const rows = (await client.query<{ tenant_name: string; tenant_type: string; tenant_status: string; is_active: boolean; max_users: number }>(SYSTEM_PROFILE_QUERY)).rows;
  if (rows.length !== 1) {
    findings.push({ name, status: 'critical', summary: `found ${rows.length} current profiles of the system tenant; expected 1`, query: SYSTEM_PROFILE_QUERY });
    return null;
  }

  const profile = rows[0];
  const expected = {
    tenant_name: SYSTEM_OPERATIONS.tenantName,
    tenant_type: SYSTEM_OPERATIONS.tenantType,
    tenant_status: SYSTEM_OPERATIONS.tenantStatus,
    is_active: true,
    max_users: SYSTEM_OPERATIONS.maxUsers,
  } as const;
  const wrong = (Object.keys(expected) as (keyof typeof expected)[])
    .filter((column) => profile[column] !== expected[column])
    .map((column) => `${column} ${JSON.stringify(profile[column])} (expected ${JSON.stringify(expected[column])})`);
  findings.push({
    name,
    status: wrong.length === 0 ? 'ok' : 'critical',
    summary:
      wrong.length === 0
        ? `${profile.tenant_name}, ${profile.tenant_type}, ${profile.tenant_status}, active, ${profile.max_users} users`
        : `${wrong.join(', ')}; the profile differs from the one V001 writes, so it was changed outside the migrations (onevault deploy --reapply writes the expected version)`,
    query: SYSTEM_PROFILE_QUERY,
  });
  return null;
}

async function readFunctionValue(client: ClientBase, findings: HealthFinding[]): Promise<string | null> {
  const exists = await client.query<{ present: boolean }>(`SELECT to_regprocedure('util.get_system_operations_tenant_hk()') IS NOT NULL AS present`);
  if (!exists.rows[0].present) {
    findings.push({ name: 'system tenant function', status: 'critical', summary: 'function util.get_system_operations_tenant_hk() does not exist; expected V001 to create it', query: FUNCTION_VALUE_QUERY });
    return null;
  }

  const value = (await client.query<{ tenant_hk: string | null }>(FUNCTION_VALUE_QUERY)).rows[0].tenant_hk;
  const matches = value === SYSTEM_OPERATIONS.tenantHkHex;
  findings.push({
    name: 'system tenant function',
    status: matches ? 'ok' : 'critical',
    summary: matches ? `returns ${value}` : `returns ${value ?? 'NULL'}; expected ${SYSTEM_OPERATIONS.tenantHkHex}`,
    query: FUNCTION_VALUE_QUERY,
  });
  return value;
}

async function readRolePermissions(client: ClientBase, findings: HealthFinding[]): Promise<readonly string[] | null> {
  if ((await existingRelations(client, ['auth.role_profile_s'])).size === 0) {
    findings.push({ name: 'system role permissions', status: 'critical', summary: 'table auth.role_profile_s does not exist', query: ROLE_PERMISSIONS_QUERY });
    return null;
  }

  const rows = (await client.query<{ permissions: string[] }>(ROLE_PERMISSIONS_QUERY)).rows;
  if (rows.length !== 1) {
    findings.push({ name: 'system role permissions', status: 'critical', summary: `found ${rows.length} current profiles of role System Operations Administrator; expected 1`, query: ROLE_PERMISSIONS_QUERY });
    return rows.length === 0 ? null : rows[0].permissions;
  }

  const permissions = rows[0].permissions;
  const missing = SYSTEM_OPERATIONS.permissions.filter((permission) => !permissions.includes(permission));
  findings.push({
    name: 'system role permissions',
    status: missing.length === 0 ? 'ok' : 'critical',
    summary: missing.length === 0 ? `[${permissions.join(', ')}]` : `[${permissions.join(', ')}]; missing ${missing.join(', ')}`,
    query: ROLE_PERMISSIONS_QUERY,
  });
  return permissions;
}

async function readIndexUsage(client: ClientBase, findings: HealthFinding[]): Promise<IndexUsage[]> {
  const rows = (await client.query(INDEX_USAGE_QUERY)).rows;
  const usage: IndexUsage[] = rows.map((row) => ({
    schema: row.schemaname,
    table: row.relname,
    index: row.indexrelname,
    scans: Number(row.idx_scan),
    tuplesRead: Number(row.idx_tup_read),
    tuplesFetched: Number(row.idx_tup_fetch),
    sizeBytes: Number(row.size_bytes),
    valid: row.indisvalid,
  }));

  for (const expected of SYSTEM_OPERATIONS.indexes) {
    const found = usage.find((entry) => entry.schema === expected.schema && entry.index === expected.name);
    const name = `index ${expected.schema}.${expected.name}`;
    if (!found) {
      findings.push({ name, status: 'critical', summary: `missing; expected on ${expected.schema}.${expected.table}`, query: INDEX_USAGE_QUERY });
    } else if (found.table !== expected.table || !found.valid) {
      const fault = found.table !== expected.table ? `on table ${found.schema}.${found.table}, expected ${expected.schema}.${expected.table}` : 'invalid (pg_index.indisvalid is false); rebuild it with REINDEX INDEX';
      findings.push({ name, status: 'critical', summary: fault, query: INDEX_USAGE_QUERY });
    } else {
      findings.push({ name, status: 'ok', summary: `${found.scans} scans, ${found.tuplesRead} tuples read, ${found.sizeBytes} bytes`, query: INDEX_USAGE_QUERY });
    }
  }
  return usage;
}

async function readLastDeployment(client: ClientBase, findings: HealthFinding[], deployLockHeld: boolean): Promise<LastDeployment | null> {
  const name = 'last deployment';
  if ((await existingRelations(client, ['util.migration_log'])).size === 0) {
    findings.push({ name, status: 'critical', summary: 'util.migration_log does not exist: nothing was ever deployed', query: LAST_DEPLOYMENT_QUERY });
    return null;
  }

  const row = (await client.query(LAST_DEPLOYMENT_QUERY)).rows[0];
  if (!row) {
    findings.push({ name, status: 'critical', summary: 'util.migration_log has no deployment run (repair rows are not counted): nothing was ever deployed', query: LAST_DEPLOYMENT_QUERY });
    return null;
  }

  const deployment: LastDeployment = {
    version: row.version,
    name: row.name,
    direction: row.direction,
    status: row.status,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    executedBy: row.executed_by,
    executedVia: row.executed_via,
    errorMessage: row.error_message,
  };
  const label = `${deployment.direction} ${deployment.version} ${deployment.name} by ${deployment.executedBy} via ${deployment.executedVia}, started ${deployment.startedAt.toISOString()}`;

  if (deployment.status === 'SUCCESS') {
    findings.push({ name, status: 'ok', summary: `SUCCESS: ${label}`, query: LAST_DEPLOYMENT_QUERY });
  } else if (deployment.status === 'RUNNING' && deployLockHeld) {
    findings.push({ name, status: 'warning', summary: `RUNNING and the deploy lock is held, so a deployment is in progress: ${label}`, query: LAST_DEPLOYMENT_QUERY });
  } else if (deployment.status === 'RUNNING') {
    findings.push({ name, status: 'critical', summary: `RUNNING but no session holds the deploy lock, so the run was abandoned: ${label}; check the objects of ${deployment.version} and record the outcome`, query: LAST_DEPLOYMENT_QUERY });
  } else if (deployment.direction === 'ROLLBACK' && (row.error_code === 'ROLLBACK_BLOCKED' || row.error_sqlstate === SQLSTATE_DEPENDENT_OBJECTS)) {
    // The rollback file refused before it changed anything and its transaction was rolled back,
    // so the objects of the version are still in place.
    findings.push({ name, status: 'warning', summary: `rollback refused (ROLLBACK_BLOCKED), so the database is unchanged and ${deployment.version} is still applied: ${label}: ${deployment.errorMessage ?? 'no error message'}`, query: LAST_DEPLOYMENT_QUERY });
  } else {
    findings.push({ name, status: 'critical', summary: `${deployment.status}: ${label}: ${deployment.errorMessage ?? 'no error message'}`, query: LAST_DEPLOYMENT_QUERY });
  }
  return deployment;
}
