import type { ClientBase, ClientConfig } from 'pg';

import { isConnectionFault } from '../connection/connect';
import { OnevaultError } from '../errors';
import { loadMigrations, normalizeVersion } from '../migrations/catalog';
import type { LockHolder } from '../lock/advisory-lock';
import { checkAppliedFiles, findMigration, isApplied, readDatabaseState } from './plan';
import { runInOrder, withDeployLock } from './run-in-order';
import type { RunEvent, RunResult } from './run-migration';

export type DeployEvent =
  | RunEvent
  | { readonly type: 'lock-wait'; readonly holder?: LockHolder }
  | { readonly type: 'migration-start'; readonly version: string; readonly name: string; readonly direction: 'FORWARD' | 'ROLLBACK' }
  | { readonly type: 'migration-done'; readonly result: RunResult };

/** Options shared by deploy and rollback. */
export interface ApplyOptions {
  readonly migrationsDir: string;
  /** Target version (`V001`, `1`…). */
  readonly to?: string;
  readonly lockWaitMs?: number;
  readonly lockTimeoutMs?: number;
  readonly statementTimeoutMs?: number;
  readonly lockRetries?: number;
  readonly signal?: AbortSignal;
  /** Connection settings of a second session that can cancel a running statement on abort. */
  readonly cancelConfig?: ClientConfig;
  readonly onEvent?: (event: DeployEvent) => void;
}

export interface DeployOptions extends ApplyOptions {
  /** Run applied migrations again too, so that each converges: repairs half-created or changed objects. */
  readonly reapply?: boolean;
}

export interface MigrationOutcome {
  readonly version: string;
  readonly name: string;
  readonly status: 'applied' | 'rolled back' | 'failed' | 'not run';
  readonly durationMs?: number;
  readonly notices?: readonly string[];
  readonly attempts?: number;
  readonly error?: OnevaultError;
}

export interface ApplyReport {
  readonly direction: 'FORWARD' | 'ROLLBACK';
  readonly outcomes: readonly MigrationOutcome[];
  /** Migrations that were already in the requested state. */
  readonly unchanged: readonly string[];
  readonly durationMs: number;
  /** Set when a migration failed; later migrations are listed as not run. */
  readonly error?: OnevaultError;
}

/**
 * Applies the pending migrations in version order, up to `to` when given, under the deploy lock;
 * with `reapply`, the applied ones run again too.
 * Each file is all-or-nothing. Returns a report; a failed migration is reported in `error` and
 * stops the run. Throws for faults found before anything runs (bad folder, drift, lock timeout).
 */
export async function deploy(client: ClientBase, options: DeployOptions): Promise<ApplyReport> {
  const started = Date.now();
  const migrations = await loadMigrations(options.migrationsDir);
  const target = options.to === undefined ? undefined : findMigration(migrations, normalizeVersion(options.to));

  return withDeployLock(client, options, async () => {
    // The state is read after the lock is taken, so a process that waited finds the work done.
    const state = await readDatabaseState(client, migrations);
    checkAppliedFiles(state);

    const wanted = migrations.filter((migration) => target === undefined || migration.number <= target.number);
    const pending = options.reapply ? wanted : wanted.filter((migration) => !isApplied(state, migration.version));
    const unchanged = wanted.filter((migration) => !pending.includes(migration)).map((migration) => migration.version);

    const { outcomes, failure } = await runInOrder(client, pending, 'FORWARD', options);
    return { direction: 'FORWARD', outcomes, unchanged, durationMs: Date.now() - started, error: failure };
  });
}

/**
 * Wraps anything thrown into an `OnevaultError`, keeping the original as the cause: a dropped
 * session becomes `CONNECTION_LOST`, anything else `INTERNAL_ERROR`.
 */
export function asOnevaultError(error: unknown, version?: string): OnevaultError {
  if (error instanceof OnevaultError) return error;
  if (isConnectionFault(error)) {
    return new OnevaultError('CONNECTION_LOST', `The connection to the server dropped: ${error instanceof Error ? error.message : String(error)}.`, {
      hint: 'The server rolled back any open transaction and released the deploy lock. Check that the server is up and reachable, then run the command again.',
      cause: error,
      version,
    });
  }
  return new OnevaultError('INTERNAL_ERROR', error instanceof Error ? error.message : String(error), { cause: error, version });
}
