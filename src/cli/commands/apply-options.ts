import type { Command } from 'commander';

import { DEFAULT_LOCK_WAIT_MS } from '../../lock/advisory-lock';
import { DEFAULT_LOCK_RETRIES, DEFAULT_LOCK_TIMEOUT_MS, DEFAULT_STATEMENT_TIMEOUT_MS } from '../../apply/run-migration';
import { parseCount, parseDurationMs } from '../context';

export interface ApplyCommandOptions {
  readonly to?: string;
  readonly lockTimeout: string;
  readonly migrationLockTimeout: string;
  readonly statementTimeout: string;
  readonly lockRetries: string;
}

/** Declares the timeout options that deploy and rollback share. */
export function addApplyOptions(command: Command): Command {
  return command
    .option('--lock-timeout <duration>', 'how long to wait for another deploy or rollback of the same database to finish (ms, or with s/min)', `${DEFAULT_LOCK_WAIT_MS / 1000}s`)
    .option('--migration-lock-timeout <duration>', 'lock_timeout of each migration statement: how long it waits for a table lock', `${DEFAULT_LOCK_TIMEOUT_MS / 1000}s`)
    .option('--statement-timeout <duration>', 'statement_timeout of each migration statement', `${DEFAULT_STATEMENT_TIMEOUT_MS / 60_000}min`)
    .option('--lock-retries <count>', 'extra attempts of a migration that hit its lock timeout, with doubling backoff from 1 s', String(DEFAULT_LOCK_RETRIES));
}

/** Parses the shared options; throws `INVALID_ARGUMENT` with the value at fault. */
export function parseApplyOptions(options: ApplyCommandOptions) {
  return {
    to: options.to,
    lockWaitMs: parseDurationMs(options.lockTimeout, '--lock-timeout'),
    lockTimeoutMs: parseDurationMs(options.migrationLockTimeout, '--migration-lock-timeout'),
    statementTimeoutMs: parseDurationMs(options.statementTimeout, '--statement-timeout'),
    lockRetries: parseCount(options.lockRetries, '--lock-retries', 0, 10),
  };
}
