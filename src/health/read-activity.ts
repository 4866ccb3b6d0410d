import type { ClientBase } from 'pg';

import type { BlockedSession, ConnectionUsage, HealthFinding, SessionActivity } from './health-report';

/** Thresholds of the activity findings, in milliseconds. */
export interface ActivityThresholds {
  /** A session that has waited for a lock this long makes the database unhealthy. */
  readonly lockWaitCriticalMs: number;
  /** An active query running this long is reported as a warning. */
  readonly longRunningQueryMs: number;
  /** A session idle in a transaction this long is reported as a warning. */
  readonly idleInTransactionMs: number;
}

/** Connection use, as a percentage of what ordinary users can open, from which a warning is given. */
export const CONNECTIONS_WARNING_PERCENT = 80;
/** Connection use from which the database is unhealthy: new sessions are about to be rejected. */
export const CONNECTIONS_CRITICAL_PERCENT = 95;

const QUERY_TEXT_MAX_CHARS = 200;

export const BLOCKED_SESSIONS_QUERY = `SELECT waiting.pid, pg_blocking_pids(waiting.pid) AS blocking_pids,
       EXTRACT(EPOCH FROM clock_timestamp() - waiting.query_start) AS waiting_seconds,
       waiting.usename, waiting.application_name, waiting.query,
       blocker.query AS blocking_query, blocker.state AS blocking_state
FROM pg_stat_activity AS waiting
LEFT JOIN pg_stat_activity AS blocker ON blocker.pid = (pg_blocking_pids(waiting.pid))[1]
WHERE waiting.datname = current_database()
  AND cardinality(pg_blocking_pids(waiting.pid)) > 0
ORDER BY waiting_seconds DESC`;

export const SESSIONS_QUERY = `SELECT pid, usename, application_name, state, query,
       EXTRACT(EPOCH FROM clock_timestamp() - query_start) AS query_seconds,
       EXTRACT(EPOCH FROM clock_timestamp() - state_change) AS state_seconds
FROM pg_stat_activity
WHERE datname = current_database()
  AND pid <> pg_backend_pid()
  AND backend_type = 'client backend'
  AND state IN ('active', 'idle in transaction', 'idle in transaction (aborted)')`;

export const CONNECTIONS_QUERY = `SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend') AS current,
       current_setting('max_connections')::integer AS max_connections,
       current_setting('superuser_reserved_connections')::integer AS reserved`;

export interface ActivityHealth {
  readonly findings: readonly HealthFinding[];
  readonly blockedSessions: readonly BlockedSession[];
  readonly longRunningQueries: readonly SessionActivity[];
  readonly idleInTransaction: readonly SessionActivity[];
  readonly connections: ConnectionUsage;
}

/**
 * Reads blocked sessions, long-running queries and sessions idle in a transaction in the current
 * database, and the server's connection count against `max_connections`. Read-only.
 */
export async function readActivity(client: ClientBase, thresholds: ActivityThresholds): Promise<ActivityHealth> {
  const findings: HealthFinding[] = [];

  const blockedSessions = await readBlockedSessions(client);
  findings.push(blockedFinding(blockedSessions, thresholds));

  const sessions = (await client.query(SESSIONS_QUERY)).rows;
  const longRunningQueries = sessions
    .filter((row) => row.state === 'active' && Number(row.query_seconds) * 1000 >= thresholds.longRunningQueryMs)
    .map((row) => activityOf(row, Number(row.query_seconds)));
  const idleInTransaction = sessions
    .filter((row) => row.state !== 'active' && Number(row.state_seconds) * 1000 >= thresholds.idleInTransactionMs)
    .map((row) => activityOf(row, Number(row.state_seconds)));
  findings.push(sessionsFinding('long-running queries', longRunningQueries, thresholds.longRunningQueryMs, 'running'));
  findings.push(sessionsFinding('idle in transaction', idleInTransaction, thresholds.idleInTransactionMs, 'idle in a transaction'));

  const connections = await readConnections(client);
  findings.push(connectionsFinding(connections));

  return { findings, blockedSessions, longRunningQueries, idleInTransaction, connections };
}

async function readBlockedSessions(client: ClientBase): Promise<BlockedSession[]> {
  const rows = (await client.query(BLOCKED_SESSIONS_QUERY)).rows;
  return rows.map((row) => ({
    pid: row.pid,
    blockingPids: row.blocking_pids,
    waitingSeconds: Math.round(Number(row.waiting_seconds) * 10) / 10,
    user: row.usename,
    applicationName: row.application_name,
    query: shorten(row.query),
    blockingQuery: row.blocking_query === null ? null : shorten(row.blocking_query),
    blockingState: row.blocking_state,
  }));
}

function blockedFinding(blocked: readonly BlockedSession[], thresholds: ActivityThresholds): HealthFinding {
  if (blocked.length === 0) return { name: 'blocking locks', status: 'ok', summary: 'no session waits for a lock', query: BLOCKED_SESSIONS_QUERY };

  const longest = blocked[0];
  const critical = blocked.some((session) => session.waitingSeconds * 1000 >= thresholds.lockWaitCriticalMs);
  const list = blocked.map((session) => `session ${session.pid} waits ${session.waitingSeconds} s for session ${session.blockingPids.join(', ')}`).join('; ');
  return {
    name: 'blocking locks',
    status: critical ? 'critical' : 'warning',
    summary: `${blocked.length} blocked ${blocked.length === 1 ? 'session' : 'sessions'}: ${list}${critical ? `; the longest wait (${longest.waitingSeconds} s) reaches the limit of ${thresholds.lockWaitCriticalMs / 1000} s` : ''}`,
    query: BLOCKED_SESSIONS_QUERY,
  };
}

function activityOf(row: Record<string, unknown>, seconds: number): SessionActivity {
  return {
    pid: row.pid as number,
    user: row.usename as string | null,
    applicationName: row.application_name as string | null,
    state: row.state as string,
    seconds: Math.round(seconds * 10) / 10,
    query: shorten(row.query as string),
  };
}

function sessionsFinding(name: string, sessions: readonly SessionActivity[], limitMs: number, what: string): HealthFinding {
  if (sessions.length === 0) return { name, status: 'ok', summary: `no session ${what} for ${limitMs / 1000} s or longer`, query: SESSIONS_QUERY };
  const list = sessions.map((session) => `session ${session.pid} (${session.user ?? 'unknown user'}) for ${session.seconds} s`).join('; ');
  return { name, status: 'warning', summary: `${sessions.length} ${what} for ${limitMs / 1000} s or longer: ${list}`, query: SESSIONS_QUERY };
}

async function readConnections(client: ClientBase): Promise<ConnectionUsage> {
  const row = (await client.query(CONNECTIONS_QUERY)).rows[0];
  const current = Number(row.current);
  const maxConnections = Number(row.max_connections);
  const reservedForSuperusers = Number(row.reserved);
  const available = Math.max(1, maxConnections - reservedForSuperusers);
  return { current, maxConnections, reservedForSuperusers, percentUsed: Math.round((current / available) * 1000) / 10 };
}

function connectionsFinding(connections: ConnectionUsage): HealthFinding {
  const text = `${connections.current} of ${connections.maxConnections} connections (${connections.reservedForSuperusers} reserved for superusers), ${connections.percentUsed}% used`;
  if (connections.percentUsed >= CONNECTIONS_CRITICAL_PERCENT) {
    return { name: 'connections', status: 'critical', summary: `${text}, at or above ${CONNECTIONS_CRITICAL_PERCENT}%`, query: CONNECTIONS_QUERY };
  }
  if (connections.percentUsed >= CONNECTIONS_WARNING_PERCENT) {
    return { name: 'connections', status: 'warning', summary: `${text}, at or above ${CONNECTIONS_WARNING_PERCENT}%`, query: CONNECTIONS_QUERY };
  }
  return { name: 'connections', status: 'ok', summary: text, query: CONNECTIONS_QUERY };
}

function shorten(query: string | null): string {
  const text = (query ?? '').replace(/\s+/g, ' ').trim();
  return text.length > QUERY_TEXT_MAX_CHARS ? `${text.slice(0, QUERY_TEXT_MAX_CHARS)}…` : text;
}
