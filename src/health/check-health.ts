import type { ClientBase } from 'pg';

import { findDeployLockHolder } from '../lock/advisory-lock';
import type { HealthReport } from './health-report';
import { readActivity, type ActivityThresholds } from './read-activity';
import { readSystemObjects } from './read-system-objects';
import { readTenantIsolation } from './read-tenant-isolation';

/** Default of `--lock-wait-limit`: a lock wait this long makes the database unhealthy. */
export const DEFAULT_LOCK_WAIT_CRITICAL_MS = 30_000;
/** Default of `--long-query-limit`: an active query this old is reported. */
export const DEFAULT_LONG_RUNNING_QUERY_MS = 5 * 60_000;
/** Default of `--idle-in-transaction-limit`: a session idle in a transaction this long is reported. */
export const DEFAULT_IDLE_IN_TRANSACTION_MS = 60_000;

/** How long one health query waits for a table lock before the read is reported as blocked. */
const HEALTH_LOCK_TIMEOUT_MS = 3_000;
/** Maximum time one health query may run. */
const HEALTH_STATEMENT_TIMEOUT_MS = 30_000;

export type HealthOptions = Partial<ActivityThresholds>;

/**
 * Checks the health of a deployed database. It reads the System Operations tenant and its profile,
 * its function and role, and the system indexes and their usage. It checks row level security and
 * the policies of the tenant-scoped tables, and EXECUTE on api functions, against V002. It looks
 * for blocked sessions, long-running queries and sessions idle in a transaction, and reads
 * connection use and the latest migration run. Read-only; it never throws for an
 * unhealthy finding, only for a failed query. `healthy` is false when any finding is critical.
 */
export async function checkHealth(client: ClientBase, options: HealthOptions = {}): Promise<HealthReport> {
  const thresholds: ActivityThresholds = {
    lockWaitCriticalMs: options.lockWaitCriticalMs ?? DEFAULT_LOCK_WAIT_CRITICAL_MS,
    longRunningQueryMs: options.longRunningQueryMs ?? DEFAULT_LONG_RUNNING_QUERY_MS,
    idleInTransactionMs: options.idleInTransactionMs ?? DEFAULT_IDLE_IN_TRANSACTION_MS,
  };

  const server = (await client.query<{ database: string; version: string; lock_timeout: string; statement_timeout: string }>(
    `SELECT current_database() AS database, current_setting('server_version') AS version,
            current_setting('lock_timeout') AS lock_timeout, current_setting('statement_timeout') AS statement_timeout`,
  )).rows[0];

  await setTimeouts(client, `${HEALTH_LOCK_TIMEOUT_MS}ms`, `${HEALTH_STATEMENT_TIMEOUT_MS}ms`);
  let objects: Awaited<ReturnType<typeof readSystemObjects>>;
  let isolation: Awaited<ReturnType<typeof readTenantIsolation>>;
  let activity: Awaited<ReturnType<typeof readActivity>>;
  try {
    const deployLockHeld = (await findDeployLockHolder(client)) !== undefined;
    objects = await readSystemObjects(client, deployLockHeld);
    isolation = await readTenantIsolation(client);
    activity = await readActivity(client, thresholds);
  } finally {
    await setTimeouts(client, server.lock_timeout, server.statement_timeout);
  }

  const findings = [...objects.findings, ...isolation, ...activity.findings];
  const reasons = findings.filter((finding) => finding.status === 'critical').map((finding) => `${finding.name}: ${finding.summary}`);

  return {
    healthy: reasons.length === 0,
    checkedAt: new Date(),
    database: server.database,
    serverVersion: server.version,
    findings,
    reasons,
    systemTenant: objects.systemTenant,
    functionValue: objects.functionValue,
    rolePermissions: objects.rolePermissions,
    indexUsage: objects.indexUsage,
    blockedSessions: activity.blockedSessions,
    longRunningQueries: activity.longRunningQueries,
    idleInTransaction: activity.idleInTransaction,
    connections: activity.connections,
    lastDeployment: objects.lastDeployment,
  };
}

async function setTimeouts(client: ClientBase, lockTimeout: string, statementTimeout: string): Promise<void> {
  await client.query(`SELECT set_config('lock_timeout', $1, false), set_config('statement_timeout', $2, false)`, [lockTimeout, statementTimeout]);
}
