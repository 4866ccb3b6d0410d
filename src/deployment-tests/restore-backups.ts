import type { Client } from 'pg';

import { OnevaultError } from '../errors';
import { readBackupManifest, type BackupManifest } from '../restore/backup-manifest';
import { restoreBackup } from '../restore/restore';

/** Backup schema names carry the version of the rollback that wrote them: `onevault_backup_v001_...`. */
const BACKUP_VERSION_PATTERN = /^onevault_backup_v(\d{3})_/;

/** When a backup schema was put back, relative to the redeploy. */
export type RestoreTiming = 'before the redeploy' | 'after the redeploy';

/** Result of putting the rows of one backup schema back with `onevault restore`. */
export interface BackupRestoreOutcome {
  readonly schema: string;
  readonly timing: RestoreTiming;
  /** Why the backup was restored at that time: which of its tables or columns were missing before the redeploy. */
  readonly timingReason: string;
  readonly backedUp: number;
  readonly inserted: number;
  /** Backed-up rows whose primary key is not in the table afterwards, because other rows hold their unique values. */
  readonly notRestored: number;
  readonly error?: unknown;
}

/** Sorts backup schema names by the version of the rollback that wrote them, oldest first, then by name. */
export function sortBackupsByVersion(schemas: readonly string[]): string[] {
  const versionOf = (schema: string): number => Number(BACKUP_VERSION_PATTERN.exec(schema)?.[1] ?? Number.MAX_SAFE_INTEGER);
  return [...schemas].sort((a, b) => versionOf(a) - versionOf(b) || a.localeCompare(b, 'en'));
}

/** Whether the rows of a backup schema can go back now, only after the redeploy, or not at all. */
export type RestorePlan =
  | { readonly status: 'ready' }
  | { readonly status: 'after the redeploy'; readonly reason: string }
  | { readonly status: 'not restorable'; readonly reason: string };

/**
 * Decides when the rows of `schema` can go back. It is `ready` when every backup table has its
 * target table with all of its columns, and `after the redeploy` (with the missing tables and
 * columns) otherwise. It is `not restorable` when `onevault restore` does not accept the schema as
 * a backup. Reads only.
 */
export async function planBackupRestore(client: Client, schema: string): Promise<RestorePlan> {
  let manifest: BackupManifest;
  try {
    manifest = await readBackupManifest(client, schema);
  } catch (error) {
    if (error instanceof OnevaultError && (error.code === 'BACKUP_INVALID' || error.code === 'BACKUP_NOT_FOUND')) return { status: 'not restorable', reason: `${error.code}: ${error.message}` };
    throw error;
  }

  const result = await client.query<{ item: string }>(
    `SELECT CASE WHEN pg_catalog.to_regclass(source.target) IS NULL THEN 'table ' || source.target
                 ELSE 'column ' || source.target || '.' || backup_column.attname END AS item
     FROM ROWS FROM (pg_catalog.unnest($2::text[]), pg_catalog.unnest($3::text[])) AS source(backup_table, target)
     JOIN pg_catalog.pg_attribute AS backup_column
       ON backup_column.attrelid = pg_catalog.format('%I.%I', $1::text, source.backup_table)::pg_catalog.regclass
      AND backup_column.attnum > 0
      AND NOT backup_column.attisdropped
     WHERE pg_catalog.to_regclass(source.target) IS NULL
        OR NOT EXISTS (
             SELECT 1
             FROM pg_catalog.pg_attribute AS target_column
             WHERE target_column.attrelid = pg_catalog.to_regclass(source.target)
               AND target_column.attname = backup_column.attname
               AND NOT target_column.attisdropped
           )
     GROUP BY 1
     ORDER BY 1`,
    [schema, manifest.tables.map((table) => table.backupTable), manifest.tables.map((table) => `${table.targetSchema}.${table.targetTable}`)],
  );
  return result.rows.length === 0 ? { status: 'ready' } : { status: 'after the redeploy', reason: `missing ${result.rows.map((row) => row.item).join(', ')}` };
}

/**
 * Puts the rows of one backup schema back as an operator would, with `restoreBackup`
 * (`onevault restore`). Returns the outcome; a failed or rejected restore is reported in `error`,
 * never thrown.
 */
export async function restoreBackupSchema(client: Client, schema: string, timing: RestoreTiming, timingReason: string): Promise<BackupRestoreOutcome> {
  try {
    const report = await restoreBackup(client, { backupSchema: schema });
    const backedUp = report.tables.reduce((sum, table) => sum + table.backedUp, 0);
    const notRestored = report.tables.reduce((sum, table) => sum + table.notRestored, 0);
    return { schema, timing, timingReason, backedUp, inserted: report.inserted, notRestored };
  } catch (error) {
    return { schema, timing, timingReason, backedUp: 0, inserted: 0, notRestored: 0, error };
  }
}

/** Formats one restore outcome as a clause for a check's details. */
export function describeRestore(outcome: BackupRestoreOutcome): string {
  const counts = outcome.error !== undefined
    ? `failed: ${outcome.error instanceof Error ? outcome.error.message : String(outcome.error)}`
    : `${outcome.inserted} of ${outcome.backedUp} backed-up rows inserted${outcome.notRestored > 0 ? `, ${outcome.notRestored} not restored` : ''}`;
  return `onevault restore ${outcome.schema} ${outcome.timing} (${outcome.timingReason}): ${counts}`;
}
