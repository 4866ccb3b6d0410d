import type { ClientBase } from 'pg';

import { OnevaultError } from '../errors';
import type { Migration } from '../migrations/catalog';
import { readMigrationRuns, summarizeRuns, type VersionState } from '../migrations/history';

export interface DatabaseState {
  readonly migrations: readonly Migration[];
  readonly states: ReadonlyMap<string, VersionState>;
}

/** Reads the migration log of the database beside the loaded migration files. */
export async function readDatabaseState(client: ClientBase, migrations: readonly Migration[]): Promise<DatabaseState> {
  const runs = await readMigrationRuns(client);
  return { migrations, states: summarizeRuns(runs) };
}

export function isApplied(state: DatabaseState, version: string): boolean {
  return state.states.get(version)?.applied === true;
}

/**
 * Throws before anything runs when an applied migration's file changed since it was applied
 * (`CHECKSUM_MISMATCH`) or is gone from the folder (`MIGRATION_FILE_MISSING`). A run made by psql
 * has no checksum and is not compared.
 */
export function checkAppliedFiles(state: DatabaseState): void {
  checkAppliedFilesPresent(state);
  checkAppliedChecksums(state);
}

/** Throws `MIGRATION_FILE_MISSING` when a version the log shows as applied has no files in the folder. */
export function checkAppliedFilesPresent(state: DatabaseState): void {
  const known = new Set(state.migrations.map((migration) => migration.version));
  for (const versionState of state.states.values()) {
    if (versionState.applied && !known.has(versionState.version)) {
      throw new OnevaultError('MIGRATION_FILE_MISSING', `${versionState.version} (${versionState.lastSuccess.name}) is applied in the database but its files are not in the migrations folder.`, {
        hint: 'Restore the missing files, or point --migrations at the folder this database was deployed from.',
        version: versionState.version,
      });
    }
  }
}

/** Throws `CHECKSUM_MISMATCH` when an applied forward file changed since it was applied. */
export function checkAppliedChecksums(state: DatabaseState): void {
  for (const migration of state.migrations) {
    const stored = state.states.get(migration.version);
    const storedChecksum = stored?.applied ? stored.lastForward?.checksum : null;
    if (storedChecksum && storedChecksum !== migration.forward.checksum) {
      throw new OnevaultError('CHECKSUM_MISMATCH', `${migration.forward.fileName} changed after it was applied: recorded checksum ${storedChecksum}, file checksum ${migration.forward.checksum}.`, {
        hint: 'Restore the file as it was applied, or write the change as a new migration. If the edit changes no behaviour, onevault repair records the new checksum.',
        version: migration.version,
      });
    }
  }
}

/** Returns the migration with that version, or throws `UNKNOWN_VERSION`. */
export function findMigration(migrations: readonly Migration[], version: string): Migration {
  const migration = migrations.find((candidate) => candidate.version === version);
  if (!migration) {
    const known = migrations.map((candidate) => candidate.version).join(', ') || 'none';
    throw new OnevaultError('UNKNOWN_VERSION', `There is no migration ${version} in the migrations folder (known: ${known}).`, {
      hint: 'Run onevault status to list the versions.',
      version,
    });
  }
  return migration;
}
