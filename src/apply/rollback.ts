import type { ClientBase } from 'pg';

import { OnevaultError } from '../errors';
import { loadMigrations, normalizeVersion, type Migration } from '../migrations/catalog';
import type { ApplyOptions, ApplyReport } from './deploy';
import { checkAppliedFiles, findMigration, isApplied, readDatabaseState, type DatabaseState } from './plan';
import { runInOrder, withDeployLock } from './run-in-order';

export interface RollbackOptions extends ApplyOptions {
  /** Roll back every applied migration. Without it and without `to`, only the latest one. */
  readonly all?: boolean;
  /** Lets a rollback back up and remove rows that it did not create, where it would otherwise refuse. */
  readonly force?: boolean;
}

/**
 * Runs rollback files in reverse version order under the deploy lock: the latest applied
 * migration, or every one after `to` (which stays applied), or all of them with `all`.
 * Returns a report; a failed or refused rollback is reported in `error` and stops the run.
 */
export async function rollback(client: ClientBase, options: RollbackOptions): Promise<ApplyReport> {
  const started = Date.now();
  const migrations = await loadMigrations(options.migrationsDir);
  const keep = options.to === undefined ? undefined : findMigration(migrations, normalizeVersion(options.to));
  if (keep && options.all) {
    throw new OnevaultError('INVALID_ARGUMENT', '--to and --all cannot be combined.', { hint: 'Use --to VERSION to keep VERSION applied, or --all to roll back everything.' });
  }

  return withDeployLock(client, options, async () => {
    const state = await readDatabaseState(client, migrations);
    checkAppliedFiles(state);

    const selected = selectRollbacks(state, keep, options.all === true);
    const { outcomes, failure } = await runInOrder(client, selected, 'ROLLBACK', options);
    const unchanged = migrations.filter((migration) => !selected.includes(migration) && !isApplied(state, migration.version)).map((migration) => migration.version);
    return { direction: 'ROLLBACK', outcomes, unchanged, durationMs: Date.now() - started, error: failure };
  });
}

function selectRollbacks(state: DatabaseState, keep: Migration | undefined, all: boolean): Migration[] {
  const applied = state.migrations.filter((migration) => isApplied(state, migration.version)).reverse();
  if (all) return applied;
  if (keep) return applied.filter((migration) => migration.number > keep.number);
  return applied.slice(0, 1);
}
