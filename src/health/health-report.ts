/** Severity of one health finding. Only `critical` makes the database unhealthy. */
export type HealthStatus = 'ok' | 'warning' | 'critical';

/** One health finding: what was checked, what was found and how serious it is. */
export interface HealthFinding {
  readonly name: string;
  readonly status: HealthStatus;
  /** One line that states the value found and, when it is wrong, the value expected. */
  readonly summary: string;
  /** The query that produced the value, so an operator can run it again in psql. */
  readonly query?: string;
}

export interface IndexUsage {
  readonly schema: string;
  readonly table: string;
  readonly index: string;
  readonly scans: number;
  readonly tuplesRead: number;
  readonly tuplesFetched: number;
  readonly sizeBytes: number;
  readonly valid: boolean;
}

/** A session that waits for a lock, with the session that holds it. */
export interface BlockedSession {
  readonly pid: number;
  readonly blockingPids: readonly number[];
  /** Seconds since the blocked query started, an upper bound of the lock wait (pg_locks.waitstart needs PostgreSQL 14). */
  readonly waitingSeconds: number;
  readonly user: string | null;
  readonly applicationName: string | null;
  readonly query: string;
  readonly blockingQuery: string | null;
  readonly blockingState: string | null;
}

export interface SessionActivity {
  readonly pid: number;
  readonly user: string | null;
  readonly applicationName: string | null;
  readonly state: string;
  /** Seconds since the query started (active) or since the last state change (idle in transaction). */
  readonly seconds: number;
  readonly query: string;
}

export interface ConnectionUsage {
  readonly current: number;
  readonly maxConnections: number;
  /** Connections reserved for superusers, which ordinary users cannot take. */
  readonly reservedForSuperusers: number;
  /** `current` as a percentage of what ordinary users can open, with one decimal. */
  readonly percentUsed: number;
}

export interface LastDeployment {
  readonly version: string;
  readonly name: string;
  readonly direction: string;
  readonly status: string;
  readonly startedAt: Date;
  readonly finishedAt: Date | null;
  readonly executedBy: string;
  readonly executedVia: string;
  readonly errorMessage: string | null;
}

/** Everything `checkHealth` found. `healthy` is false when any finding is critical. */
export interface HealthReport {
  readonly healthy: boolean;
  readonly checkedAt: Date;
  readonly database: string;
  readonly serverVersion: string;
  readonly findings: readonly HealthFinding[];
  /** Summaries of the critical findings: why the database is unhealthy. */
  readonly reasons: readonly string[];
  readonly systemTenant: { readonly tenantHk: string; readonly tenantBk: string; readonly loadDate: Date } | null;
  readonly functionValue: string | null;
  readonly rolePermissions: readonly string[] | null;
  readonly indexUsage: readonly IndexUsage[];
  readonly blockedSessions: readonly BlockedSession[];
  readonly longRunningQueries: readonly SessionActivity[];
  readonly idleInTransaction: readonly SessionActivity[];
  readonly connections: ConnectionUsage;
  readonly lastDeployment: LastDeployment | null;
}
