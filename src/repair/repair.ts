import type { ClientBase } from 'pg';

import { acquireDeployLock, releaseDeployLock } from '../lock/advisory-lock';
import { loadMigrations } from '../migrations/catalog';
import { checkAppliedFilesPresent, readDatabaseState } from '../apply/plan';
import { OnevaultError } from '../errors';

export interface ChecksumRepair {
  readonly version: string;
  readonly fileName: string;
  readonly recordedChecksum: string;
  readonly fileChecksum: string;
}

export interface RepairOptions {
  readonly migrationsDir: string;
  /** Only list what would be re-recorded; change nothing. */
  readonly dryRun?: boolean;
  /** Reason for the change, kept in the log row and the audit event. */
  readonly reason?: string;
  /** Confirmation method of the operator (`--yes`, or `typed yes` at the prompt), kept in the log row and the audit event. */
  readonly confirmation?: string;
  readonly lockWaitMs?: number;
}

export interface RepairReport {
  readonly repairs: readonly ChecksumRepair[];
  readonly applied: boolean;
}

/**
 * Re-records the checksum of every applied migration whose forward file changed since it was
 * applied, so that deploy accepts the folder again. Each repair is a SUCCESS row in
 * `util.migration_log` (details `{"repair": true, ...}`) plus an audit event under the platform key,
 * written in one transaction under the deploy lock. Runs no migration SQL.
 */
export async function repairChecksums(client: ClientBase, options: RepairOptions): Promise<RepairReport> {
  const migrations = await loadMigrations(options.migrationsDir);
  await acquireDeployLock(client, { waitMs: options.lockWaitMs });
  try {
    const state = await readDatabaseState(client, migrations);
    // A missing file cannot be re-recorded: its checksum is unknown.
    checkAppliedFilesPresent(state);
    const repairs: ChecksumRepair[] = [];
    for (const migration of migrations) {
      const versionState = state.states.get(migration.version);
      const recorded = versionState?.applied ? versionState.lastForward?.checksum : null;
      if (recorded && recorded !== migration.forward.checksum) {
        repairs.push({ version: migration.version, fileName: migration.forward.fileName, recordedChecksum: recorded, fileChecksum: migration.forward.checksum });
      }
    }
    if (options.dryRun || repairs.length === 0) return { repairs, applied: false };

    await client.query('BEGIN');
    try {
      for (const repair of repairs) await recordRepair(client, repair, migrations.find((m) => m.version === repair.version)?.name ?? '', options);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw new OnevaultError('MIGRATION_FAILED', `Recording the repaired checksums failed: ${(error as Error).message}.`, {
        hint: 'Nothing was recorded. Check that the platform foundation (V000) is deployed, then run onevault repair again.',
        cause: error,
      });
    }
    return { repairs, applied: true };
  } finally {
    await releaseDeployLock(client);
  }
}

async function recordRepair(client: ClientBase, repair: ChecksumRepair, name: string, options: RepairOptions): Promise<void> {
  const details = JSON.stringify({
    repair: true,
    file: repair.fileName,
    previous_checksum: repair.recordedChecksum,
    new_checksum: repair.fileChecksum,
    reason: options.reason ?? null,
    confirmation: options.confirmation ?? null,
  });
  await client.query(
    `INSERT INTO util.migration_log (run_id, version, name, direction, status, started_at, finished_at, executed_via, checksum, details)
     VALUES (gen_random_uuid(), $1, $2, 'FORWARD', 'SUCCESS', clock_timestamp(), clock_timestamp(), 'onevault', $3, $4::jsonb)`,
    [repair.version, name, repair.fileChecksum, details],
  );
  await client.query(
    `SELECT audit.record_event(util.get_platform_hk(), 'MIGRATION', 'REPAIR_CHECKSUM', 'SUCCESS', $1::jsonb, 'util', 'migration_log')`,
    [details],
  );
}
