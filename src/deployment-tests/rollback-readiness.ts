import type { Client } from 'pg';

import { runMigrationFile } from '../apply/run-migration';
import { OnevaultError } from '../errors';
import type { FingerprintDifference } from '../fingerprint';
import type { Migration } from '../migrations/catalog';
import { errorOutcome, expectThat, listText, type CheckGroup, type CheckOutcome } from './check-result';
import { appliedMigrations, differencesText, inScratchCopy, platformDifferences, platformFingerprint, skippedOutcome, systemOperationsMigration } from './scratch-group';
import { describeRestore, planBackupRestore, restoreBackupSchema, sortBackupsByVersion, type BackupRestoreOutcome } from './restore-backups';
import { SYSTEM_OPERATIONS } from './system-operations';

const ROLLBACK_RUNS = 'V001 rollback succeeds';
const OBJECTS_GONE = 'rollback removes every V001 object';
const ROWS_BACKED_UP = 'removed rows are backed up';
const REDEPLOY_RESTORES = 'redeploy restores the state';
const CHECKS = [ROLLBACK_RUNS, OBJECTS_GONE, ROWS_BACKED_UP, REDEPLOY_RESTORES] as const;

/** SQLSTATE of the rollback's rejection when rows that V001 did not write reference the system tenant. */
const SQLSTATE_DEPENDENT_OBJECTS_STILL_EXIST = '2BP01';

/** Start of the names of the backup schemas that V001's rollback creates: `onevault_backup_v001_<UTC time>_<run id>`. */
const V001_BACKUP_SCHEMA_PREFIX = `${SYSTEM_OPERATIONS.backupSchemaPrefix}v001_`;

/** The tables V001 writes rows to, each with the filter that selects the rows of V001. */
const V001_ROWS = [
  { table: 'auth.tenant_h', filter: `tenant_hk = decode('${SYSTEM_OPERATIONS.tenantHkHex}', 'hex')` },
  { table: 'auth.tenant_profile_s', filter: `tenant_hk = decode('${SYSTEM_OPERATIONS.tenantHkHex}', 'hex')` },
  { table: 'auth.role_h', filter: `role_hk = decode('${SYSTEM_OPERATIONS.roleHkHex}', 'hex')` },
  { table: 'auth.role_profile_s', filter: `role_hk = decode('${SYSTEM_OPERATIONS.roleHkHex}', 'hex')` },
] as const;

type RowSnapshot = ReadonlyMap<string, readonly string[]>;

interface RollbackRun {
  /** Versions rolled back, latest first: V001 and every applied migration after it. */
  readonly versions: readonly string[];
  /** One entry per rollback file that was rejected and ran again with force: version and rejection message. */
  readonly forced: readonly string[];
  readonly error?: unknown;
  readonly leftovers: readonly string[];
  readonly backupComparison: readonly string[];
  readonly backupSchemas: readonly string[];
  readonly removedRowCount: number;
  /** The backup schemas the rollback wrote, put back in the order they ran. */
  readonly restores: readonly BackupRestoreOutcome[];
  /** New backup schemas that `onevault restore` rejects, each with the rejection. */
  readonly unrestorable: readonly string[];
  /** Versions deployed again without error, in version order. */
  readonly redeployed: readonly string[];
  /** Error of a redeployed migration file or of a restore, which ends the run. */
  readonly redeployError?: unknown;
  readonly redeployDifferences: readonly FingerprintDifference[];
}

/**
 * Rolls V001 back in a scratch copy of the target, after the applied migrations that follow it
 * (latest first, as `onevault rollback --to V000` does). When a plain rollback is rejected because
 * other rows depend on what it removes, it runs again with `onevault.force_rollback` on and the
 * details say so. Then it checks that V001's objects are gone and that every removed row of V001
 * is in V001's new backup schema. It brings the copy back as an operator would: each new backup
 * schema whose tables and columns exist is restored before the migrations are deployed again, and
 * the others after. Last, it compares the copy with its state before the rollback.
 */
export const rollbackReadinessChecks: CheckGroup = {
  group: 'rollback readiness',
  checks: CHECKS,
  usesScratchCopy: true,
  run: async (context, record) => {
    const migration = systemOperationsMigration(context);
    if (!migration) {
      for (const name of CHECKS) record(name, skippedOutcome('the migrations folder has no V001', 'V001 to roll back'));
      return;
    }

    const progress = (message: string): void => context.emit({ type: 'progress', message });
    const outcome = await inScratchCopy(context, 'rollback readiness: roll V001 back, deploy it again and restore its backups', async (client) =>
      rollBackAndRedeploy(client, await migrationsFrom(client, context.migrations, migration), context.signal, progress),
    );
    if (outcome.status === 'skipped') {
      for (const name of CHECKS) record(name, skippedOutcome(outcome.reason, 'a scratch copy of the target'));
      return;
    }

    const run = outcome.value;
    const forcedNote = run.forced.length > 0 ? `The plain rollback was rejected (${run.forced.join('; ')}), so it ran again with onevault.force_rollback on, as onevault rollback --force does.` : undefined;
    if (run.error !== undefined) {
      record(ROLLBACK_RUNS, { ...errorOutcome(run.error), status: 'FAILED', expected: 'the rollback to succeed', note: forcedNote });
      const notRun: CheckOutcome = { status: 'FAILED', found: 'not checked: the rollback failed', expected: 'a completed rollback' };
      for (const name of [OBJECTS_GONE, ROWS_BACKED_UP, REDEPLOY_RESTORES]) record(name, notRun);
      return;
    }

    record(
      ROLLBACK_RUNS,
      expectThat(run.versions.includes(migration.version), `rollback of ${listText([...run.versions])} succeeded in copy ${outcome.copy.database}${run.forced.length > 0 ? ' with force' : ''}`, `the rollback of ${migration.version} to succeed`, forcedNote),
    );
    record(OBJECTS_GONE, expectThat(run.leftovers.length === 0, `left behind: ${listText(run.leftovers)}`, 'left behind: none (tenant, profiles, role, role profiles, function, indexes)'));
    record(
      ROWS_BACKED_UP,
      expectThat(
        run.backupComparison.length === 0 && run.backupSchemas.length === 1,
        `${run.removedRowCount} removed rows, backup schemas ${listText(run.backupSchemas)}${run.backupComparison.length > 0 ? `, mismatches: ${run.backupComparison.join('; ')}` : ', every removed row found in its backup table'}`,
        `one new ${V001_BACKUP_SCHEMA_PREFIX}* schema with every removed row of ${V001_ROWS.map((entry) => entry.table).join(', ')}`,
      ),
    );

    const steps = restoreStepsText(run);
    if (run.redeployError !== undefined) {
      record(REDEPLOY_RESTORES, { ...errorOutcome(run.redeployError), status: 'FAILED', expected: 'the redeploy and the restore of every backup schema to succeed', note: steps });
      return;
    }
    const incomplete = run.restores.filter((restore) => restore.notRestored > 0).map((restore) => `${restore.schema}: ${restore.notRestored} rows not restored`);
    const differences = run.redeployDifferences.length === 0 ? 'no differences' : differencesText(run.redeployDifferences);
    record(
      REDEPLOY_RESTORES,
      expectThat(
        run.redeployDifferences.length === 0 && incomplete.length === 0,
        incomplete.length === 0 ? differences : `${differences}; ${incomplete.join('; ')}`,
        'no differences from the state before the rollback',
        `${steps} Load dates, the migration log, the audit tables and the backup schemas are left out of the comparison.`,
      ),
    );
  },
};

/** States what was done after the rollback: which backups went back when, and what was deployed again. */
function restoreStepsText(run: RollbackRun): string {
  const toRedeploy = [...run.versions].reverse();
  const before = run.restores.filter((restore) => restore.timing === 'before the redeploy').map(describeRestore);
  const after = run.restores.filter((restore) => restore.timing === 'after the redeploy').map(describeRestore);
  const restoreFailed = run.restores.some((restore) => restore.error !== undefined);
  let redeploy = `redeployed ${listText(run.redeployed)}`;
  if (run.redeployed.length < toRedeploy.length) {
    redeploy = restoreFailed ? 'did not redeploy' : `${redeploy}, then the redeploy of ${toRedeploy[run.redeployed.length]} failed`;
  }
  const parts = [...before, redeploy, ...after];
  if (run.restores.length === 0 && run.unrestorable.length === 0) parts.unshift('the rollback wrote no backup schema');
  if (run.unrestorable.length > 0) parts.unshift(`left out ${run.unrestorable.join(', ')}, which onevault restore rejects`);
  return `After the rollback: ${parts.join('; then ')}.`;
}

/** Returns `migration` and the applied migrations after it, in version order. */
async function migrationsFrom(client: Client, migrations: readonly Migration[], migration: Migration): Promise<Migration[]> {
  const applied = await appliedMigrations(client, migrations);
  return applied.filter((candidate) => candidate.number >= migration.number);
}

async function rollBackAndRedeploy(client: Client, migrations: readonly Migration[], signal: AbortSignal | undefined, progress: (message: string) => void): Promise<RollbackRun> {
  const versions = [...migrations].reverse().map((migration) => migration.version);
  const before = await platformFingerprint(client);
  const schemasBefore = await listBackupSchemas(client);
  const rowsBefore = await snapshotV001Rows(client);
  const empty = { versions, forced: [], leftovers: [], backupComparison: [], backupSchemas: [], removedRowCount: 0, restores: [], unrestorable: [], redeployed: [], redeployDifferences: [] };

  const forced: string[] = [];
  for (const migration of [...migrations].reverse()) {
    progress(`rolling back ${migration.version} ${migration.name}`);
    try {
      await runMigrationFile(client, migration, 'ROLLBACK', { mode: 'tool', signal });
    } catch (error) {
      if (!isRejectedForDependentRows(error)) return { ...empty, forced, error };
      forced.push(`${migration.version}: ${error instanceof Error ? error.message : String(error)}`);
      progress(`rollback of ${migration.version} was rejected because other rows depend on what it removes; running it again with onevault.force_rollback on`);
      try {
        await runMigrationFile(client, migration, 'ROLLBACK', { mode: 'tool', force: true, signal });
      } catch (forcedError) {
        return { ...empty, forced, error: forcedError };
      }
    }
  }

  const leftovers = await findLeftovers(client);
  const newBackups = sortBackupsByVersion((await listBackupSchemas(client)).filter((schema) => !schemasBefore.includes(schema)));
  const backupSchemas = newBackups.filter((schema) => schema.startsWith(V001_BACKUP_SCHEMA_PREFIX));
  const backupComparison = backupSchemas.length === 1 ? await compareBackup(client, backupSchemas[0], rowsBefore) : [];
  const removedRowCount = [...rowsBefore.values()].reduce((sum, rows) => sum + rows.length, 0);
  const rolledBack = { versions, forced, leftovers, backupComparison, backupSchemas, removedRowCount };

  // An operator restores a backup before the redeploy when its tables can take the rows already:
  // the redeploy then finds V001's rows in place, instead of writing a second current satellite
  // version beside the restored one. A backup whose tables or columns a later rollback removed
  // can only go back once the redeploy has recreated them. A schema that onevault restore rejects
  // is left out: if rows are missing because of it, the comparison shows them.
  const restores: BackupRestoreOutcome[] = [];
  const unrestorable: string[] = [];
  const deferred: { schema: string; reason: string }[] = [];
  for (const schema of newBackups) {
    const plan = await planBackupRestore(client, schema);
    if (plan.status === 'not restorable') {
      unrestorable.push(`${schema} (${plan.reason})`);
      continue;
    }
    if (plan.status === 'after the redeploy') {
      deferred.push({ schema, reason: plan.reason });
      continue;
    }
    progress(`restoring ${schema} before the redeploy`);
    const outcome = await restoreBackupSchema(client, schema, 'before the redeploy', 'its tables and columns exist after the rollback');
    restores.push(outcome);
    if (outcome.error !== undefined) return { ...rolledBack, restores, unrestorable, redeployed: [], redeployError: outcome.error, redeployDifferences: [] };
  }

  const redeployed: string[] = [];
  for (const migration of migrations) {
    progress(`deploying ${migration.version} ${migration.name} again`);
    try {
      await runMigrationFile(client, migration, 'FORWARD', { mode: 'tool', signal });
    } catch (error) {
      return { ...rolledBack, restores, unrestorable, redeployed, redeployError: error, redeployDifferences: [] };
    }
    redeployed.push(migration.version);
  }

  for (const { schema, reason } of deferred) {
    progress(`restoring ${schema} after the redeploy`);
    const outcome = await restoreBackupSchema(client, schema, 'after the redeploy', `${reason} after the rollback`);
    restores.push(outcome);
    if (outcome.error !== undefined) return { ...rolledBack, restores, unrestorable, redeployed, redeployError: outcome.error, redeployDifferences: [] };
  }
  return { ...rolledBack, restores, unrestorable, redeployed, redeployDifferences: platformDifferences(before, await platformFingerprint(client)) };
}

function isRejectedForDependentRows(error: unknown): boolean {
  if (!(error instanceof OnevaultError)) return false;
  return error.code === 'ROLLBACK_BLOCKED' || error.postgres?.sqlstate === SQLSTATE_DEPENDENT_OBJECTS_STILL_EXIST;
}

async function listBackupSchemas(client: Client): Promise<string[]> {
  const result = await client.query<{ name: string }>(`SELECT nspname AS name FROM pg_catalog.pg_namespace WHERE starts_with(nspname, $1) ORDER BY 1`, [SYSTEM_OPERATIONS.backupSchemaPrefix]);
  return result.rows.map((row) => row.name);
}

async function snapshotV001Rows(client: Client): Promise<RowSnapshot> {
  const snapshot = new Map<string, readonly string[]>();
  for (const entry of V001_ROWS) {
    const result = await client.query<{ row_text: string }>(`SELECT source::text AS row_text FROM ${entry.table} AS source WHERE ${entry.filter} ORDER BY 1`);
    snapshot.set(entry.table, result.rows.map((row) => row.row_text));
  }
  return snapshot;
}

async function findLeftovers(client: Client): Promise<string[]> {
  const leftovers: string[] = [];
  for (const entry of V001_ROWS) {
    const count = Number((await client.query<{ count: string }>(`SELECT count(*) AS count FROM ${entry.table} WHERE ${entry.filter}`)).rows[0].count);
    if (count > 0) leftovers.push(`${count} rows in ${entry.table}`);
  }

  const objects = await client.query<{ name: string }>(
    `SELECT name FROM (VALUES
       ('function ' || $1 || '()', to_regprocedure($1 || '()') IS NOT NULL),
       ('index auth.' || $2, to_regclass('auth.' || $2) IS NOT NULL),
       ('index auth.' || $3, to_regclass('auth.' || $3) IS NOT NULL)
     ) AS object(name, present)
     WHERE present`,
    [SYSTEM_OPERATIONS.functionName, SYSTEM_OPERATIONS.indexes[0].name, SYSTEM_OPERATIONS.indexes[1].name],
  );
  return [...leftovers, ...objects.rows.map((row) => row.name)];
}

/** Returns one line per table whose backup does not hold exactly the rows that were removed. */
async function compareBackup(client: Client, schema: string, rowsBefore: RowSnapshot): Promise<string[]> {
  const mismatches: string[] = [];
  for (const [table, removed] of rowsBefore) {
    if (removed.length === 0) continue;
    const backupTable = table.replace('.', '_');
    const exists = (await client.query<{ present: boolean }>('SELECT to_regclass(format($1, $2::text, $3::text)) IS NOT NULL AS present', ['%I.%I', schema, backupTable])).rows[0].present;
    if (!exists) {
      mismatches.push(`${schema}.${backupTable} is missing (${removed.length} rows of ${table} removed)`);
      continue;
    }

    const quoted = (await client.query<{ name: string }>('SELECT format($1, $2::text, $3::text) AS name', ['%I.%I', schema, backupTable])).rows[0].name;
    const backedUp = (await client.query<{ row_text: string }>(`SELECT backup::text AS row_text FROM ${quoted} AS backup ORDER BY 1`)).rows.map((row) => row.row_text);
    const missing = removed.filter((row) => !backedUp.includes(row));
    if (missing.length > 0) mismatches.push(`${missing.length} of ${removed.length} removed rows of ${table} are not in ${schema}.${backupTable}`);
  }
  return mismatches;
}
