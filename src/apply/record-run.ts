import { Client, type ClientBase, type ClientConfig } from 'pg';

import type { Direction, Migration, MigrationFile } from '../migrations/catalog';
import { hasMigrationLog } from '../migrations/history';

/** How long to keep trying to reach the server again after the session dropped, to record the run. */
export const RECONNECT_WINDOW_MS = 15_000;
const RECONNECT_DELAY_MS = 500;

/** One run of one file, as recorded in `util.migration_log`. */
export interface RunRecord {
  readonly migration: Migration;
  readonly direction: Direction;
  readonly file: MigrationFile;
  readonly runId: string;
  readonly startedAt: Date;
}

/**
 * Outcome of a run whose session dropped before its result arrived, as read from the log
 * afterwards. `no log`: the database has no migration log, so the file did not commit it either.
 * `not recorded`: the server could not be reached again within the reconnect window.
 */
export type LostRunOutcome = 'committed' | 'failure recorded' | 'no log' | 'not recorded';

/** Inserts a FAILED row for the run. The caller has ended any failed transaction first. */
export async function insertFailedRun(client: ClientBase, run: RunRecord, message: string, detail: Record<string, unknown>): Promise<void> {
  await client.query(
    `INSERT INTO util.migration_log
       (run_id, version, name, direction, status, started_at, finished_at, executed_via, checksum, error_message, error_detail)
     VALUES ($1, $2, $3, $4, 'FAILED', $5, clock_timestamp(), 'onevault', $6, $7, $8)`,
    [run.runId, run.migration.version, run.migration.name, run.direction, run.startedAt, run.file.checksum, message, JSON.stringify(detail)],
  );
}

/**
 * Inserts the SUCCESS row of a run whose file wrote none (a file that cannot call
 * util.record_migration_run, such as a single CREATE INDEX CONCURRENTLY), so that the version
 * counts as applied or rolled back. Does nothing when the file recorded itself or the log does
 * not exist. Runs outside the file's transaction.
 */
export async function recordSuccessIfMissing(client: ClientBase, run: RunRecord): Promise<boolean> {
  if (!(await hasMigrationLog(client))) return false;
  const recorded = await client.query('SELECT 1 FROM util.migration_log WHERE run_id = $1::uuid LIMIT 1', [run.runId]);
  if ((recorded.rowCount ?? 0) > 0) return false;

  await client.query(
    `INSERT INTO util.migration_log
       (run_id, version, name, direction, status, started_at, finished_at, executed_via, checksum, details)
     VALUES ($1, $2, $3, $4, 'SUCCESS', $5, clock_timestamp(), 'onevault', $6, $7::jsonb)`,
    [run.runId, run.migration.version, run.migration.name, run.direction, run.startedAt, run.file.checksum, JSON.stringify({ recorded_by: 'onevault', reason: 'the file does not record its own run' })],
  );
  return true;
}

/**
 * Opens a new session after the run's session dropped and finds out what became of the run. When
 * the log has the run's SUCCESS row, the server committed the file before the connection went.
 * Otherwise the server rolled it back, and this writes a FAILED row. Keeps trying to connect for
 * `RECONNECT_WINDOW_MS`, because a restarting server refuses connections for a while. Never throws.
 */
export async function recordLostRun(config: ClientConfig, run: RunRecord, message: string, detail: Record<string, unknown>): Promise<LostRunOutcome> {
  const deadline = Date.now() + RECONNECT_WINDOW_MS;
  for (;;) {
    const client = new Client({ ...config, application_name: 'onevault', connectionTimeoutMillis: 5_000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      if (!(await hasMigrationLog(client))) return 'no log';
      const committed = await client.query(`SELECT 1 FROM util.migration_log WHERE run_id = $1::uuid AND status = 'SUCCESS' LIMIT 1`, [run.runId]);
      if ((committed.rowCount ?? 0) > 0) return 'committed';
      await insertFailedRun(client, run, message, detail);
      return 'failure recorded';
    } catch {
      if (Date.now() + RECONNECT_DELAY_MS >= deadline) return 'not recorded';
      await new Promise((resolve) => setTimeout(resolve, RECONNECT_DELAY_MS));
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}
