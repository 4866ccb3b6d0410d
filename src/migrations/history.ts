import type { ClientBase } from 'pg';

import type { Direction } from './catalog';

/** One row of `util.migration_log`: one run of one file. */
export interface MigrationRun {
  readonly id: number;
  readonly runId: string;
  readonly version: string;
  readonly name: string;
  readonly direction: Direction;
  readonly status: 'RUNNING' | 'SUCCESS' | 'FAILED';
  readonly startedAt: Date;
  readonly finishedAt: Date | null;
  readonly executedBy: string;
  /** `onevault` for runs through the tool, `psql` for files executed directly (psql, pgAdmin). */
  readonly executedVia: string;
  readonly checksum: string | null;
  readonly errorMessage: string | null;
  readonly details: unknown;
}

/** What the log says of one version: its latest successful run decides whether it is applied. */
export interface VersionState {
  readonly version: string;
  readonly applied: boolean;
  /** Latest successful run in either direction. */
  readonly lastSuccess: MigrationRun;
  /** Latest successful forward run, which carries the checksum that drift is checked against. */
  readonly lastForward?: MigrationRun;
}

/** Returns true when the database has the migration log table. */
export async function hasMigrationLog(client: ClientBase): Promise<boolean> {
  const result = await client.query<{ present: boolean }>(`SELECT to_regclass('util.migration_log') IS NOT NULL AS present`);
  return result.rows[0].present;
}

/** Reads every run of the migration log, oldest first; an empty list when the log does not exist. */
export async function readMigrationRuns(client: ClientBase): Promise<readonly MigrationRun[]> {
  if (!(await hasMigrationLog(client))) return [];

  const result = await client.query(`
    SELECT migration_log_id, run_id::text, version, name, direction, status, started_at, finished_at,
           executed_by, executed_via, checksum, error_message, details
    FROM util.migration_log
    ORDER BY migration_log_id`);
  return result.rows.map((row) => ({
    id: Number(row.migration_log_id),
    runId: row.run_id,
    version: row.version,
    name: row.name,
    direction: row.direction,
    status: row.status,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    executedBy: row.executed_by,
    executedVia: row.executed_via,
    checksum: row.checksum,
    errorMessage: row.error_message,
    details: row.details,
  }));
}

/** Folds the log into one state per version that has at least one successful run. */
export function summarizeRuns(runs: readonly MigrationRun[]): ReadonlyMap<string, VersionState> {
  const states = new Map<string, VersionState>();
  for (const run of runs) {
    if (run.status !== 'SUCCESS') continue;
    const previous = states.get(run.version);
    states.set(run.version, {
      version: run.version,
      applied: run.direction === 'FORWARD',
      lastSuccess: run,
      lastForward: run.direction === 'FORWARD' ? run : previous?.lastForward,
    });
  }
  return states;
}
