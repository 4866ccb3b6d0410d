import type { ClientBase } from 'pg';

import { OnevaultError } from '../errors';

/** Prefix of every schema in which a rollback keeps the rows it removed. */
export const BACKUP_SCHEMA_PREFIX = 'onevault_backup_';

/**
 * A rollback names its backup schema `onevault_backup_<version>_<UTC time>_<8 hex digits of the run id>`
 * and comments it `Rows removed by rollback <version> (run <uuid>) ...`.
 */
const SCHEMA_NAME_PATTERN = /^onevault_backup_v(\d{3})_\d{14}_[0-9a-f]{8}$/;
const SCHEMA_COMMENT_PATTERN = /^Rows removed by rollback (V\d{3}) \(run ([0-9a-f-]{36})\)/;
/** Each backup table is commented `Rows of <schema>.<table> removed by rollback <version> (run <uuid>).` */
const TABLE_COMMENT_PATTERN = /^Rows of ([a-z_][a-z0-9_$]*)\.([a-z_][a-z0-9_$]*) removed by rollback (V\d{3})\b/;

/** One table of a backup schema and the platform table its rows came from. */
export interface BackupTable {
  /** Name of the table inside the backup schema, for example `auth_tenant_h`. */
  readonly backupTable: string;
  readonly targetSchema: string;
  readonly targetTable: string;
}

/** Contents of a backup schema, read from its name and comments. */
export interface BackupManifest {
  readonly schema: string;
  /** Version of the rollback that wrote the backup, for example `V001`. */
  readonly version: string;
  /** Run id of that rollback in `util.migration_log`. */
  readonly runId: string;
  readonly tables: readonly BackupTable[];
}

/**
 * Reads a backup schema that a rollback wrote and returns where each of its tables restores to.
 * Throws `BACKUP_NOT_FOUND` when the schema does not exist and `BACKUP_INVALID` when it is not a
 * onevault backup (wrong name, no rollback comment, or a table whose source table cannot be determined).
 * Reads only.
 */
export async function readBackupManifest(client: ClientBase, schema: string): Promise<BackupManifest> {
  const found = await client.query<{ comment: string | null }>(
    `SELECT pg_catalog.obj_description(n.oid, 'pg_namespace') AS comment
     FROM pg_catalog.pg_namespace AS n
     WHERE n.nspname = $1`,
    [schema],
  );
  if (found.rowCount === 0) throw await backupNotFound(client, schema);

  const nameMatch = SCHEMA_NAME_PATTERN.exec(schema);
  const commentMatch = SCHEMA_COMMENT_PATTERN.exec(found.rows[0].comment ?? '');
  if (!nameMatch || !commentMatch) {
    throw new OnevaultError('BACKUP_INVALID', `Schema ${schema} is not a onevault backup: ${!nameMatch ? `its name does not have the form ${BACKUP_SCHEMA_PREFIX}<version>_<time>_<hex>` : 'its comment does not name the rollback that wrote it'}.`, {
      hint: 'Give the schema named in the rollback\'s "Backed up ... rows into schema" line. A name that does not exist makes onevault restore list the backup schemas.',
    });
  }
  const version = commentMatch[1];
  if (version !== `V${nameMatch[1]}`) {
    throw new OnevaultError('BACKUP_INVALID', `Schema ${schema} is not a onevault backup: its name gives V${nameMatch[1]} but its comment gives ${version}.`, {
      hint: 'Do not rename backup schemas; restore from the schema the rollback created.',
    });
  }

  const tables = await readBackupTables(client, schema, version);
  if (tables.length === 0) {
    throw new OnevaultError('BACKUP_INVALID', `Backup schema ${schema} contains no tables, so there is nothing to restore.`, {
      hint: 'A rollback that removes nothing creates no backup schema; this one was emptied by hand.',
    });
  }
  return { schema, version, runId: commentMatch[2], tables };
}

async function readBackupTables(client: ClientBase, schema: string, version: string): Promise<BackupTable[]> {
  const result = await client.query<{ relname: string; comment: string | null }>(
    `SELECT c.relname, pg_catalog.obj_description(c.oid, 'pg_class') AS comment
     FROM pg_catalog.pg_class AS c
     JOIN pg_catalog.pg_namespace AS n
       ON n.oid = c.relnamespace
     WHERE n.nspname = $1
       AND c.relkind IN ('r', 'p')
     ORDER BY c.relname`,
    [schema],
  );

  return result.rows.map((row) => {
    const match = TABLE_COMMENT_PATTERN.exec(row.comment ?? '');
    if (!match || match[3] !== version) {
      throw new OnevaultError('BACKUP_INVALID', `Table ${schema}.${row.relname} has no comment naming the table its rows came from, so it cannot be restored.`, {
        hint: `The rollback comments each backup table "Rows of <schema>.<table> removed by rollback ${version} ..."; restore a table without it by hand with INSERT ... SELECT.`,
      });
    }
    return { backupTable: row.relname, targetSchema: match[1], targetTable: match[2] };
  });
}

async function backupNotFound(client: ClientBase, schema: string): Promise<OnevaultError> {
  const backups = await client.query<{ nspname: string }>(
    `SELECT nspname
     FROM pg_catalog.pg_namespace
     WHERE nspname LIKE 'onevault\\_backup\\_%'
     ORDER BY nspname DESC
     LIMIT 10`,
  );
  const known = backups.rows.map((row) => row.nspname);
  return new OnevaultError('BACKUP_NOT_FOUND', `Backup schema ${schema} does not exist in this database.`, {
    hint: known.length > 0 ? `Backup schemas here, newest first: ${known.join(', ')}.` : 'This database has no onevault_backup_* schema; check the database URL.',
  });
}
