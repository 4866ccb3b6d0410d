import type { ClientBase } from 'pg';

import { loadMigrations } from '../migrations/catalog';
import { hasMigrationLog, readMigrationRuns, summarizeRuns } from '../migrations/history';

export type ChecksumState = 'match' | 'mismatch' | 'not recorded (psql run)' | 'not applied';

export interface MigrationStatus {
  readonly version: string;
  readonly name: string;
  readonly state: 'applied' | 'pending' | 'rolled back';
  /** When the latest successful run in either direction finished. */
  readonly lastRunAt: Date | null;
  readonly lastRunBy: string | null;
  /** `onevault` or `psql` (files executed directly with psql or pgAdmin). */
  readonly lastRunVia: string | null;
  readonly checksum: ChecksumState;
  readonly failedRuns: number;
}

export interface StatusReport {
  readonly migrations: readonly MigrationStatus[];
  /** Versions the log shows as applied that have no files in the folder. */
  readonly unknownApplied: readonly string[];
  readonly hasMigrationLog: boolean;
}

/** Lists every migration of the folder with its state in the database. Reads only. */
export async function getStatus(client: ClientBase, migrationsDir: string): Promise<StatusReport> {
  const migrations = await loadMigrations(migrationsDir);
  const runs = await readMigrationRuns(client);
  const states = summarizeRuns(runs);

  const statuses = migrations.map((migration): MigrationStatus => {
    const state = states.get(migration.version);
    const applied = state?.applied === true;
    const recorded = applied ? state?.lastForward?.checksum : undefined;
    let stateName: MigrationStatus['state'] = 'pending';
    if (applied) stateName = 'applied';
    else if (state) stateName = 'rolled back';
    return {
      version: migration.version,
      name: migration.name,
      state: stateName,
      lastRunAt: state?.lastSuccess.finishedAt ?? null,
      lastRunBy: state?.lastSuccess.executedBy ?? null,
      lastRunVia: state?.lastSuccess.executedVia ?? null,
      checksum: checksumStateOf(applied, recorded, migration.forward.checksum),
      failedRuns: runs.filter((run) => run.version === migration.version && run.status === 'FAILED').length,
    };
  });

  const known = new Set(migrations.map((migration) => migration.version));
  const unknownApplied = [...states.values()].filter((state) => state.applied && !known.has(state.version)).map((state) => state.version);
  return { migrations: statuses, unknownApplied, hasMigrationLog: await hasMigrationLog(client) };
}

function checksumStateOf(applied: boolean, recorded: string | null | undefined, fileChecksum: string): ChecksumState {
  if (!applied) return 'not applied';
  if (!recorded) return 'not recorded (psql run)';
  return recorded === fileChecksum ? 'match' : 'mismatch';
}
