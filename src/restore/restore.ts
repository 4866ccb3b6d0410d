import type { ClientBase } from 'pg';

import { DEFAULT_LOCK_TIMEOUT_MS } from '../apply/run-migration';
import { quoteIdentifier } from '../connection/connect';
import { OnevaultError, postgresFieldsOf } from '../errors';
import { acquireDeployLock, releaseDeployLock, type LockHolder } from '../lock/advisory-lock';
import { readBackupManifest, type BackupManifest, type BackupTable } from './backup-manifest';
import { sortByForeignKeys } from './restore-order';

export interface RestoreOptions {
  /** Name of the backup schema, for example `onevault_backup_v001_20261204201500_1a2b3c4d`. */
  readonly backupSchema: string;
  /** How long to wait for a deploy or rollback of the same database to finish. */
  readonly lockWaitMs?: number;
  /** `lock_timeout` of the restore transaction: how long it waits for a table lock. */
  readonly lockTimeoutMs?: number;
  readonly signal?: AbortSignal;
  readonly onLockWait?: (holder: LockHolder | undefined) => void;
}

/** Row counts of one restored table. */
export interface TableRestore {
  /** The platform table, `schema.table`. */
  readonly table: string;
  /** The table inside the backup schema. */
  readonly backupTable: string;
  /** Rows in the backup table. */
  readonly backedUp: number;
  /** Backed-up rows that were in the table already, with the same values, before the restore. */
  readonly alreadyPresent: number;
  readonly inserted: number;
  /**
   * Backed-up rows whose primary key is in the table with other values, for example a hub row that
   * a later deploy wrote again with a new load_date. The existing row is kept.
   */
  readonly keptExisting: number;
  /**
   * Backed-up rows whose primary key is not in the table after the restore, because another row
   * has one of their unique values (for example a newer current satellite version).
   */
  readonly notRestored: number;
}

export interface RestoreReport {
  readonly backupSchema: string;
  /** Version of the rollback that wrote the backup. */
  readonly version: string;
  readonly rollbackRunId: string;
  /** Tables in the order they were restored: referenced tables first. */
  readonly tables: readonly TableRestore[];
  readonly inserted: number;
  /** True when the primary key of every backed-up row is in its table after the restore. */
  readonly complete: boolean;
  readonly durationMs: number;
}

interface ColumnPlan {
  /** Columns present in both the backup and the target table. */
  readonly compared: readonly string[];
  /** The compared columns without generated columns, which the server computes. */
  readonly inserted: readonly string[];
  readonly hasIdentityAlways: boolean;
  readonly primaryKey: readonly string[];
}

/**
 * Puts back the rows that a rollback copied into `backupSchema`: tables in foreign-key order,
 * columns matched by name, `ON CONFLICT DO NOTHING`, all in one transaction under the deploy lock,
 * plus one audit event. Afterwards it checks per table that every row it inserted is present as
 * backed up, and counts the backed-up rows whose primary key is present. Restoring twice inserts
 * nothing.
 *
 * Throws `BACKUP_NOT_FOUND`, `BACKUP_INVALID`, `PREREQUISITE_MISSING` when a target table or the
 * audit function is missing (deploy first), `RESTORE_FAILED` when an insert or the check failed
 * (nothing is restored then), `LOCK_TIMEOUT` or `INTERRUPTED`. Returns `complete: false` when some rows stay out
 * because other rows hold their unique values; the rows that could be restored are committed.
 */
export async function restoreBackup(client: ClientBase, options: RestoreOptions): Promise<RestoreReport> {
  const started = Date.now();
  await acquireDeployLock(client, { waitMs: options.lockWaitMs, signal: options.signal, onWait: options.onLockWait });
  try {
    const manifest = await readBackupManifest(client, options.backupSchema);
    await checkTargetsExist(client, manifest);

    const byTarget = new Map(manifest.tables.map((table) => [qualifiedName(table), table]));
    const order = await sortByForeignKeys(client, [...byTarget.keys()]);
    const tables = order.map((name) => byTarget.get(name) as BackupTable);

    await client.query('BEGIN');
    try {
      await client.query(`SELECT pg_catalog.set_config('lock_timeout', $1, true)`, [`${options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS}ms`]);
      // Writers would change the tables between the insert and the check; readers may go on.
      await client.query(`LOCK TABLE ${tables.map((table) => quoteTarget(table)).join(', ')} IN SHARE ROW EXCLUSIVE MODE`);

      const restored: TableRestore[] = [];
      for (const table of tables) restored.push(await restoreTable(client, manifest, table));

      const report: RestoreReport = {
        backupSchema: manifest.schema,
        version: manifest.version,
        rollbackRunId: manifest.runId,
        tables: restored,
        inserted: restored.reduce((sum, table) => sum + table.inserted, 0),
        complete: restored.every((table) => table.notRestored === 0),
        durationMs: 0,
      };
      await recordRestoreEvent(client, report);
      // NOTE: an abort does not cancel a running INSERT; it takes effect here, before the commit.
      if (options.signal?.aborted) {
        throw new OnevaultError('INTERRUPTED', `Restoring ${manifest.schema} was interrupted and rolled back; nothing was restored.`, { hint: 'Run onevault restore again when ready.' });
      }
      await client.query('COMMIT');
      return { ...report, durationMs: Date.now() - started };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw describeRestoreError(error, manifest.schema);
    }
  } finally {
    await releaseDeployLock(client);
  }
}

async function checkTargetsExist(client: ClientBase, manifest: BackupManifest): Promise<void> {
  const names = manifest.tables.map(qualifiedName);
  const result = await client.query<{ name: string }>(
    `SELECT wanted.name
     FROM pg_catalog.unnest($1::text[]) AS wanted(name)
     WHERE pg_catalog.to_regclass(pg_catalog.quote_ident(pg_catalog.split_part(wanted.name, '.', 1)) || '.' || pg_catalog.quote_ident(pg_catalog.split_part(wanted.name, '.', 2))) IS NULL
     ORDER BY wanted.name`,
    [names],
  );
  const missing = result.rows.map((row) => row.name);
  if (missing.length > 0) {
    throw new OnevaultError('PREREQUISITE_MISSING', `Backup ${manifest.schema} restores into ${missing.join(', ')}, which ${missing.length === 1 ? 'does' : 'do'} not exist.`, {
      hint: `Deploy the migration that creates ${missing.length === 1 ? 'it' : 'them'} first (onevault deploy), then run onevault restore ${manifest.schema} again.`,
    });
  }

  const audit = await client.query<{ present: boolean }>(`SELECT pg_catalog.to_regprocedure('audit.record_event(bytea,text,text,text,jsonb,text,text)') IS NOT NULL AS present`);
  if (!audit.rows[0].present) {
    throw new OnevaultError('PREREQUISITE_MISSING', 'The function audit.record_event, which records the restore in the audit trail, does not exist.', {
      hint: `Deploy the platform foundation (V000) first, then run onevault restore ${manifest.schema} again.`,
    });
  }
}

async function restoreTable(client: ClientBase, manifest: BackupManifest, table: BackupTable): Promise<TableRestore> {
  const plan = await planColumns(client, manifest, table);
  const source = `${quoteIdentifier(manifest.schema)}.${quoteIdentifier(table.backupTable)}`;
  const target = quoteTarget(table);

  const backedUp = await countRows(client, `SELECT pg_catalog.count(*) AS count FROM ${source}`);
  const identicalQuery = `SELECT pg_catalog.count(*) AS count FROM ${source} AS backup_row WHERE ${presentCondition(plan, target, 'row')}`;
  const alreadyPresent = await countRows(client, identicalQuery);

  const columnList = plan.inserted.map(quoteIdentifier).join(', ');
  const selectList = plan.inserted.map((column) => `backup_row.${quoteIdentifier(column)}`).join(', ');
  const insert = await client.query(
    `INSERT INTO ${target} (${columnList}) ${plan.hasIdentityAlways ? 'OVERRIDING SYSTEM VALUE ' : ''}SELECT ${selectList} FROM ${source} AS backup_row ON CONFLICT DO NOTHING`,
  );
  const inserted = insert.rowCount ?? 0;

  // Every inserted row must now match a backed-up row in every shared column. A mismatch means
  // that the columns were mapped wrongly or a trigger changed the rows, so the restore is undone.
  const identicalAfter = await countRows(client, identicalQuery);
  if (identicalAfter !== alreadyPresent + inserted) {
    throw new OnevaultError('RESTORE_FAILED', `After inserting ${inserted} rows into ${qualifiedName(table)}, ${identicalAfter - alreadyPresent} of them match the backup ${manifest.schema}.${table.backupTable}.`, {
      hint: 'Nothing was restored. Compare the columns of the two tables and look for triggers on the target table that change inserted rows.',
    });
  }
  const keyPresentAfter = await countRows(client, `SELECT pg_catalog.count(*) AS count FROM ${source} AS backup_row WHERE ${presentCondition(plan, target, 'key')}`);
  if (inserted > 0) await advanceSequences(client, target);

  return {
    table: qualifiedName(table),
    backupTable: table.backupTable,
    backedUp,
    alreadyPresent,
    inserted,
    keptExisting: keyPresentAfter - identicalAfter,
    notRestored: backedUp - keyPresentAfter,
  };
}

async function planColumns(client: ClientBase, manifest: BackupManifest, table: BackupTable): Promise<ColumnPlan> {
  const result = await client.query<{ name: string; in_backup: boolean; in_target: boolean; generated: boolean; identity_always: boolean; primary_key_position: number | null }>(
    `WITH backup_columns AS (
       SELECT a.attname AS name
       FROM pg_catalog.pg_attribute AS a
       WHERE a.attrelid = pg_catalog.format('%I.%I', $1::text, $2::text)::pg_catalog.regclass
         AND a.attnum > 0
         AND NOT a.attisdropped
     ),
     target_columns AS (
       SELECT a.attname AS name,
              a.attgenerated <> '' AS generated,
              a.attidentity = 'a' AS identity_always,
              pg_catalog.array_position(primary_key.conkey, a.attnum) AS primary_key_position
       FROM pg_catalog.pg_attribute AS a
       LEFT JOIN pg_catalog.pg_constraint AS primary_key
         ON primary_key.conrelid = a.attrelid
        AND primary_key.contype = 'p'
       WHERE a.attrelid = pg_catalog.format('%I.%I', $3::text, $4::text)::pg_catalog.regclass
         AND a.attnum > 0
         AND NOT a.attisdropped
     )
     SELECT COALESCE(target_columns.name, backup_columns.name) AS name,
            backup_columns.name IS NOT NULL AS in_backup,
            target_columns.name IS NOT NULL AS in_target,
            COALESCE(target_columns.generated, false) AS generated,
            COALESCE(target_columns.identity_always, false) AS identity_always,
            target_columns.primary_key_position
     FROM target_columns
     FULL JOIN backup_columns USING (name)
     ORDER BY name`,
    [manifest.schema, table.backupTable, table.targetSchema, table.targetTable],
  );

  const dropped = result.rows.filter((column) => column.in_backup && !column.in_target).map((column) => column.name);
  if (dropped.length > 0) {
    throw new OnevaultError('RESTORE_FAILED', `Backup table ${manifest.schema}.${table.backupTable} has columns that ${qualifiedName(table)} no longer has: ${dropped.join(', ')}.`, {
      hint: 'The table changed since the rollback; restoring would lose those values. Copy the rows by hand with an INSERT ... SELECT that maps the columns.',
    });
  }

  const shared = result.rows.filter((column) => column.in_backup && column.in_target);
  return {
    compared: shared.map((column) => column.name),
    inserted: shared.filter((column) => !column.generated).map((column) => column.name),
    hasIdentityAlways: shared.some((column) => column.identity_always && !column.generated),
    primaryKey: result.rows
      .filter((column) => column.primary_key_position !== null)
      .sort((a, b) => (a.primary_key_position ?? 0) - (b.primary_key_position ?? 0))
      .map((column) => column.name),
  };
}

/**
 * SQL condition, on `backup_row`, that is true when the target contains the same row (`row`) or a row
 * with the same primary key (`key`). Values are compared as text so that types without an equality
 * operator (json, point) compare too. Without a primary key among the shared columns, a key match
 * is a match of the whole row.
 */
function presentCondition(plan: ColumnPlan, target: string, match: 'row' | 'key'): string {
  const keyColumns = plan.primaryKey.length > 0 && plan.primaryKey.every((column) => plan.compared.includes(column)) ? plan.primaryKey : [];
  const keyMatch = keyColumns.map((column) => `target_row.${quoteIdentifier(column)} = backup_row.${quoteIdentifier(column)}`);
  const rowText = (alias: string): string => `ROW(${plan.compared.map((column) => `${alias}.${quoteIdentifier(column)}`).join(', ')})::text`;
  const conditions = match === 'key' && keyMatch.length > 0 ? keyMatch : [...keyMatch, `${rowText('target_row')} = ${rowText('backup_row')}`];
  return `EXISTS (SELECT 1 FROM ${target} AS target_row WHERE ${conditions.join(' AND ')})`;
}

async function recordRestoreEvent(client: ClientBase, report: RestoreReport): Promise<void> {
  const details = {
    backup_schema: report.backupSchema,
    version: report.version,
    rollback_run_id: report.rollbackRunId,
    complete: report.complete,
    inserted: report.inserted,
    tables: Object.fromEntries(
      report.tables.map((table) => [
        table.table,
        { backed_up: table.backedUp, already_present: table.alreadyPresent, inserted: table.inserted, kept_existing: table.keptExisting, not_restored: table.notRestored },
      ]),
    ),
  };
  await client.query(
    `SELECT audit.record_event(util.get_platform_hk(), 'MIGRATION', $1, 'SUCCESS', $2::jsonb, $3, NULL)`,
    [`RESTORE ${report.version}`, JSON.stringify(details), report.backupSchema],
  );
}

async function countRows(client: ClientBase, sql: string): Promise<number> {
  const result = await client.query<{ count: string }>(sql);
  return Number(result.rows[0].count);
}

function describeRestoreError(error: unknown, schema: string): OnevaultError {
  if (error instanceof OnevaultError) return error;
  const fields = postgresFieldsOf(error);
  const message = error instanceof Error ? error.message : String(error);
  if (fields?.sqlstate === '55P03') {
    return new OnevaultError('LOCK_TIMEOUT', `Restoring ${schema} could not lock the target tables in time: ${message}.`, {
      hint: 'Another session holds a conflicting lock; find it in pg_locks and pg_stat_activity, then run onevault restore again. Nothing was restored.',
      cause: error,
      postgres: fields,
    });
  }
  if (!fields || /^(08|57P)/.test(fields.sqlstate ?? '')) {
    return new OnevaultError('CONNECTION_LOST', `Restoring ${schema} lost its connection: ${message}.`, {
      hint: 'The server rolled the restore back, so nothing was restored. Check the server, then run onevault restore again.',
      cause: error,
      postgres: fields,
    });
  }
  return new OnevaultError('RESTORE_FAILED', `Restoring ${schema} failed: ${message}.`, {
    hint: fields.hint ?? 'Nothing was restored. Fix the cause named above, then run onevault restore again.',
    cause: error,
    postgres: fields,
  });
}

function qualifiedName(table: BackupTable): string {
  return `${table.targetSchema}.${table.targetTable}`;
}

function quoteTarget(table: BackupTable): string {
  return `${quoteIdentifier(table.targetSchema)}.${quoteIdentifier(table.targetTable)}`;
}

/**
 * Moves every identity or serial sequence of the table past the highest value in its column.
 * Rows restored with their original ids do not advance the sequence, so without this the next
 * insert would collide with a restored row. Never moves a sequence backwards.
 */
async function advanceSequences(client: ClientBase, target: string): Promise<void> {
  const columns = await client.query<{ column_name: string; sequence_name: string }>(
    `SELECT a.attname AS column_name, pg_catalog.pg_get_serial_sequence($1, a.attname) AS sequence_name
     FROM pg_catalog.pg_attribute AS a
     WHERE a.attrelid = $1::pg_catalog.regclass
       AND a.attnum > 0
       AND NOT a.attisdropped
       AND pg_catalog.pg_get_serial_sequence($1, a.attname) IS NOT NULL`,
    [target],
  );
  for (const column of columns.rows) {
    await client.query(
      `SELECT pg_catalog.setval($1::pg_catalog.regclass, highest)
       FROM (SELECT pg_catalog.max(${quoteIdentifier(column.column_name)}) AS highest FROM ${target}) AS restored
       WHERE highest IS NOT NULL
         AND highest > (SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM ${column.sequence_name})`,
      [column.sequence_name],
    );
  }
}
