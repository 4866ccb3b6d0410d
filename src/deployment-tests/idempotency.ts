import { runMigrationFile } from '../apply/run-migration';
import type { FingerprintDifference } from '../fingerprint';
import { errorOutcome, expectThat, listText, type CheckGroup, type CheckOutcome } from './check-result';
import { appliedMigrations, differencesText, inScratchCopy, platformDifferences, platformFingerprint, skippedOutcome, systemOperationsMigration } from './scratch-group';

const RUNS_AGAIN = 'applied migrations run again without error';
const CATALOG_UNCHANGED = 'second run leaves the catalog unchanged';
const ROWS_UNCHANGED = 'second run leaves the rows unchanged';

interface RerunResult {
  readonly versions: readonly string[];
  readonly error?: unknown;
  readonly logRows: number;
  readonly differences: readonly FingerprintDifference[];
}

/**
 * Runs every applied migration's forward file a second time, in version order, in a scratch copy
 * of the target, as `onevault deploy --reapply` or a second `psql -f` would, and compares
 * fingerprints from before and after. All of them run, not V001 alone, so that a later migration
 * that changed a V001 object is not reported as drift. The migration log and the audit tables are
 * left out of the row comparison, because every run adds one row to each of them by design.
 */
export const idempotencyChecks: CheckGroup = {
  group: 'idempotency',
  checks: [RUNS_AGAIN, CATALOG_UNCHANGED, ROWS_UNCHANGED],
  usesScratchCopy: true,
  run: async (context, record) => {
    const migration = systemOperationsMigration(context);
    if (!migration) {
      for (const name of [RUNS_AGAIN, CATALOG_UNCHANGED, ROWS_UNCHANGED]) record(name, skippedOutcome('the migrations folder has no V001', 'V001 to run again'));
      return;
    }

    const outcome = await inScratchCopy(context, 'idempotency: run the applied migrations again', async (client): Promise<RerunResult> => {
      const applied = await appliedMigrations(client, context.migrations);
      const versions = applied.map((candidate) => candidate.version);
      const before = await platformFingerprint(client);
      const logBefore = await countLogRows(client);
      for (const candidate of applied) {
        context.emit({ type: 'progress', message: `running ${candidate.version} ${candidate.name} again` });
        try {
          await runMigrationFile(client, candidate, 'FORWARD', { mode: 'tool', signal: context.signal });
        } catch (error) {
          return { versions, error, logRows: 0, differences: [] };
        }
      }
      const after = await platformFingerprint(client);
      return { versions, logRows: (await countLogRows(client)) - logBefore, differences: platformDifferences(before, after) };
    });

    if (outcome.status === 'skipped') {
      for (const name of [RUNS_AGAIN, CATALOG_UNCHANGED, ROWS_UNCHANGED]) record(name, skippedOutcome(outcome.reason, 'a scratch copy of the target'));
      return;
    }

    const result = outcome.value;
    if (result.error !== undefined) {
      record(RUNS_AGAIN, { ...errorOutcome(result.error), status: 'FAILED', expected: `a second run of ${listText([...result.versions])} to succeed` });
      const notCompared: CheckOutcome = { status: 'FAILED', found: 'not compared: the second run failed', expected: 'no differences' };
      record(CATALOG_UNCHANGED, notCompared);
      record(ROWS_UNCHANGED, notCompared);
      return;
    }

    const expectedRows = result.versions.length;
    record(
      RUNS_AGAIN,
      expectThat(
        result.versions.includes(migration.version) && result.logRows === expectedRows,
        `${listText([...result.versions])} ran again in copy ${outcome.copy.database} and recorded ${result.logRows} SUCCESS rows`,
        `${migration.version} among the applied migrations, each run recording one SUCCESS row in util.migration_log`,
      ),
    );
    const catalog = result.differences.filter((difference) => difference.kind !== 'rows');
    const rows = result.differences.filter((difference) => difference.kind === 'rows');
    record(CATALOG_UNCHANGED, expectThat(catalog.length === 0, catalog.length === 0 ? 'no differences' : differencesText(catalog), 'no differences in schemas, tables, columns, constraints, indexes, functions or privileges'));
    record(ROWS_UNCHANGED, expectThat(rows.length === 0, rows.length === 0 ? 'no differences' : differencesText(rows), 'no row differences outside util.migration_log and audit.*'));
  },
};

async function countLogRows(client: import('pg').Client): Promise<number> {
  const result = await client.query<{ count: string }>(`SELECT count(*) AS count FROM util.migration_log WHERE status = 'SUCCESS'`);
  return Number(result.rows[0].count);
}
