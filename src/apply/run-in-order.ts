import type { ClientBase } from 'pg';

import type { OnevaultError } from '../errors';
import type { Direction, Migration } from '../migrations/catalog';
import { acquireDeployLock, releaseDeployLock } from '../lock/advisory-lock';
import { asOnevaultError, type ApplyOptions, type MigrationOutcome } from './deploy';
import { runMigrationFile, type RunOptions } from './run-migration';

/**
 * Runs `work` while this session holds the deploy lock, announcing a wait through `onEvent`.
 * Releases the lock afterwards, also when `work` throws; every error comes out as `OnevaultError`.
 */
export async function withDeployLock<T>(client: ClientBase, options: ApplyOptions, work: () => Promise<T>): Promise<T> {
  await acquireDeployLock(client, {
    waitMs: options.lockWaitMs,
    signal: options.signal,
    onWait: (holder) => options.onEvent?.({ type: 'lock-wait', holder }),
  }).catch((error: unknown) => {
    throw asOnevaultError(error);
  });
  try {
    return await work();
  } catch (error) {
    throw asOnevaultError(error);
  } finally {
    await releaseDeployLock(client);
  }
}

/**
 * Runs the files of `migrations` in the given order and direction until one fails; the ones after
 * a failure are reported as not run. Returns an outcome per migration and the failure, if any.
 */
export async function runInOrder(
  client: ClientBase,
  migrations: readonly Migration[],
  direction: Direction,
  options: ApplyOptions & Pick<RunOptions, 'force'>,
): Promise<{ readonly outcomes: MigrationOutcome[]; readonly failure?: OnevaultError }> {
  const outcomes: MigrationOutcome[] = [];
  let failure: OnevaultError | undefined;
  for (const migration of migrations) {
    if (failure) {
      outcomes.push({ version: migration.version, name: migration.name, status: 'not run' });
      continue;
    }
    options.onEvent?.({ type: 'migration-start', version: migration.version, name: migration.name, direction });
    try {
      const result = await runMigrationFile(client, migration, direction, { ...options, mode: 'tool' });
      options.onEvent?.({ type: 'migration-done', result });
      outcomes.push({
        version: migration.version,
        name: migration.name,
        status: direction === 'FORWARD' ? 'applied' : 'rolled back',
        durationMs: result.durationMs,
        notices: result.notices,
        attempts: result.attempts,
      });
    } catch (error) {
      failure = asOnevaultError(error, migration.version);
      outcomes.push({ version: migration.version, name: migration.name, status: 'failed', error: failure });
    }
  }
  return { outcomes, failure };
}
