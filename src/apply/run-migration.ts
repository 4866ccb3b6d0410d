import { randomUUID } from 'node:crypto';
import type { ClientBase } from 'pg';
import type { NoticeMessage } from 'pg-protocol/dist/messages';

import { isConnectionFault } from '../connection/connect';
import { OnevaultError, postgresFieldsOf, type PostgresErrorFields } from '../errors';
import type { Direction, Migration, MigrationFile } from '../migrations/catalog';
import { hasMigrationLog } from '../migrations/history';
import { cancelBackend } from './cancel';
import { describeLockWait, watchLockWaits, type LockWait, type LockWaitWatch } from './lock-wait-watch';
import { insertFailedRun, recordLostRun, recordSuccessIfMissing, type RunRecord } from './record-run';

/** Default `lock_timeout` of every migration: how long one statement waits for a table lock. */
export const DEFAULT_LOCK_TIMEOUT_MS = 5_000;
/** Default `statement_timeout` of every migration: the longest one statement may run. */
export const DEFAULT_STATEMENT_TIMEOUT_MS = 10 * 60_000;
/** Default number of extra attempts after a lock timeout. */
export const DEFAULT_LOCK_RETRIES = 3;
const LOCK_RETRY_BASE_DELAY_MS = 1_000;

/**
 * `client_connection_check_interval` of migration sessions (PostgreSQL 14 and later): how often the
 * server checks, while a statement runs, that the client is still connected. When the onevault
 * process is killed, the server then ends the statement, rolls back and releases the deploy lock
 * within about this time instead of running the migration to its end.
 */
const CLIENT_CONNECTION_CHECK_INTERVAL_MS = 1_000;

const SQLSTATE_LOCK_NOT_AVAILABLE = '55P03';
const SQLSTATE_QUERY_CANCELED = '57014';
const SQLSTATE_INSUFFICIENT_PRIVILEGE = '42501';
/** Rollback files raise dependent_objects_still_exist when rows they did not create block them. */
const SQLSTATE_DEPENDENT_OBJECTS = '2BP01';

export type RunEvent =
  | { readonly type: 'notice'; readonly version: string; readonly direction: Direction; readonly message: string }
  | { readonly type: 'retry'; readonly version: string; readonly direction: Direction; readonly attempt: number; readonly delayMs: number; readonly reason: string };

export interface RunOptions {
  /** `tool` sets the session settings that identify a run by onevault; `psql` runs the file as psql would. */
  readonly mode?: 'tool' | 'psql';
  /** Sets `onevault.force_rollback`, which lets a rollback remove rows it did not create. */
  readonly force?: boolean;
  readonly lockTimeoutMs?: number;
  readonly statementTimeoutMs?: number;
  readonly lockRetries?: number;
  /**
   * Connection settings of a second session on the same database, used to cancel the running
   * statement when `signal` aborts, to name the table of a lock timeout, and to record the run
   * after the session dropped.
   */
  readonly cancelConfig?: import('pg').ClientConfig;
  readonly signal?: AbortSignal;
  readonly onEvent?: (event: RunEvent) => void;
}

export interface RunResult {
  readonly version: string;
  readonly name: string;
  readonly direction: Direction;
  readonly runId: string;
  readonly durationMs: number;
  readonly notices: readonly string[];
  readonly attempts: number;
}

/**
 * Executes one migration file as a single simple-protocol query, exactly as psql would send its
 * statements, and relays its NOTICE lines. The file is all-or-nothing by its own BEGIN and COMMIT.
 * A file that writes no SUCCESS row of its own gets one from the tool, after the file.
 * On failure it rolls the session back and records a FAILED row in `util.migration_log` outside
 * the failed transaction, when the log exists. After a dropped connection it records from a new
 * session. It then throws `MIGRATION_FAILED`, `ROLLBACK_BLOCKED`, `LOCK_TIMEOUT`, `INTERRUPTED`,
 * `INSUFFICIENT_PRIVILEGE` or `CONNECTION_LOST`. A lock timeout is retried with doubling backoff,
 * each retry announced as a `retry` event. Throws `INTERRUPTED` without running anything when
 * `signal` has already aborted.
 */
export async function runMigrationFile(client: ClientBase, migration: Migration, direction: Direction, options: RunOptions = {}): Promise<RunResult> {
  const file = direction === 'FORWARD' ? migration.forward : migration.rollback;
  const retries = options.lockRetries ?? DEFAULT_LOCK_RETRIES;
  const started = Date.now();
  // One watcher for all attempts, so that its session is open by the time a retry waits again.
  const lockWatch = options.cancelConfig ? watchLockWaits(options.cancelConfig, processIdOf(client), options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS) : undefined;
  try {
    return await runAttempts(client, migration, direction, file, retries, started, options, lockWatch);
  } finally {
    await lockWatch?.stop();
  }
}

async function runAttempts(
  client: ClientBase,
  migration: Migration,
  direction: Direction,
  file: MigrationFile,
  retries: number,
  started: number,
  options: RunOptions,
  lockWatch: LockWaitWatch | undefined,
): Promise<RunResult> {
  for (let attempt = 1; ; attempt += 1) {
    throwIfAborted(options.signal, migration, direction);
    const runId = randomUUID();
    const notices: string[] = [];
    const onNotice = (notice: NoticeMessage): void => {
      const message = notice.message ?? '';
      notices.push(message);
      options.onEvent?.({ type: 'notice', version: migration.version, direction, message });
    };

    const run: RunRecord = { migration, direction, file, runId, startedAt: new Date() };
    const asTool = (options.mode ?? 'tool') === 'tool';
    let stopCancelling: () => void = () => undefined;
    client.on('notice', onNotice);
    try {
      await applySessionSettings(client, file, runId, options);
      stopCancelling = watchSignal(client, options);

      await client.query(file.sql);
      if (asTool) await recordSuccessIfMissing(client, run);
      return { version: migration.version, name: migration.name, direction, runId, durationMs: Date.now() - started, notices, attempts: attempt };
    } catch (error) {
      // The latest wait seen, possibly in an earlier attempt when this one timed out between samples.
      const lockWait = lockWatch?.lastWait();
      if (isConnectionFault(error)) throw await describeLostConnection(error, run, options);

      const interrupted = options.signal?.aborted === true && postgresFieldsOf(error)?.sqlstate === SQLSTATE_QUERY_CANCELED;
      const failure = describeRunError(error, migration, direction, file, interrupted, lockWait);
      await recordFailure(client, run, failure, options);

      if (failure.code === 'LOCK_TIMEOUT' && attempt <= retries && !options.signal?.aborted) {
        const delayMs = LOCK_RETRY_BASE_DELAY_MS * 2 ** (attempt - 1);
        options.onEvent?.({ type: 'retry', version: migration.version, direction, attempt, delayMs, reason: failure.message });
        await sleep(delayMs, options.signal);
        continue;
      }
      if (failure.code === 'LOCK_TIMEOUT' && attempt > 1) {
        throw new OnevaultError('LOCK_TIMEOUT', `${failure.message} Gave up after ${attempt} attempts.`, { hint: failure.hint, version: failure.version, cause: error, postgres: failure.postgres });
      }
      throw failure;
    } finally {
      client.off('notice', onNotice);
      stopCancelling();
    }
  }
}

function throwIfAborted(signal: AbortSignal | undefined, migration: Migration, direction: Direction): void {
  if (!signal?.aborted) return;
  throw new OnevaultError('INTERRUPTED', `Interrupted before ${direction === 'FORWARD' ? 'migration' : 'rollback'} ${migration.version} started, so nothing of it ran.`, {
    hint: 'Run the command again when ready.',
    version: migration.version,
  });
}

/**
 * Builds the error for a run whose session dropped: the server has rolled back whatever was not
 * committed and released the session's locks. From a new session it finds out whether the file had
 * committed and, when not, records the FAILED row.
 */
async function describeLostConnection(error: unknown, run: RunRecord, options: RunOptions): Promise<OnevaultError> {
  const verb = run.direction === 'FORWARD' ? 'Migration' : 'Rollback';
  const reason = error instanceof Error ? error.message : String(error);
  const base = `${verb} ${run.migration.version} (${run.file.fileName}) lost its connection to the server: ${reason}.`;
  const fields = postgresFieldsOf(error);
  const asTool = (options.mode ?? 'tool') === 'tool';

  // Without settings for a new session (a library caller passed none), the run is not looked up.
  const outcome = asTool && options.cancelConfig ? await recordLostRun(options.cancelConfig, run, base, { code: 'CONNECTION_LOST', ...(fields ?? {}) }) : 'not attempted';
  let consequence = 'The server rolled back the open transaction, so nothing of this file was applied.';
  if (outcome === 'committed') {
    consequence = `The server had committed the file before the connection dropped, so ${run.migration.version} is ${run.direction === 'FORWARD' ? 'applied' : 'rolled back'}.`;
  } else if (outcome === 'failure recorded') {
    consequence += ' The run is recorded as FAILED in util.migration_log.';
  } else if (outcome === 'not recorded' || outcome === 'not attempted') {
    consequence = `Unless the server committed the file just before the connection dropped, it rolled the open transaction back and nothing of this file was applied; onevault status shows whether ${run.migration.version} is applied.`;
  }
  return new OnevaultError('CONNECTION_LOST', `${base} ${consequence}`, {
    hint: 'Check that the server is up and reachable (a restart or an administrator ending the session also drops it), then run the command again: it continues where this run stopped.',
    version: run.migration.version,
    cause: error,
    postgres: fields,
  });
}

function processIdOf(client: ClientBase): number {
  return (client as unknown as { processID: number }).processID;
}

async function applySessionSettings(client: ClientBase, file: MigrationFile, runId: string, options: RunOptions): Promise<void> {
  const asTool = (options.mode ?? 'tool') === 'tool';
  // The setting does not exist before PostgreSQL 14, where set_config would fail; WHERE skips it there.
  await client.query(
    `SELECT set_config('client_connection_check_interval', $1, false)
     WHERE current_setting('server_version_num')::integer >= 140000`,
    [`${CLIENT_CONNECTION_CHECK_INTERVAL_MS}ms`],
  );
  await client.query(
    `SELECT set_config('onevault.client', $1, false),
            set_config('onevault.checksum', $2, false),
            set_config('onevault.run_id', $3, false),
            set_config('onevault.force_rollback', $4, false),
            set_config('lock_timeout', $5, false),
            set_config('statement_timeout', $6, false)`,
    [
      asTool ? 'onevault' : '',
      asTool ? file.checksum : '',
      asTool ? runId : '',
      options.force ? 'on' : 'off',
      `${options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS}ms`,
      `${options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS}ms`,
    ],
  );
}

/** Cancels the running statement from a second session when the signal aborts. */
function watchSignal(client: ClientBase, options: RunOptions): () => void {
  const signal = options.signal;
  if (!signal || !options.cancelConfig) return () => undefined;
  const config = options.cancelConfig;
  const onAbort = (): void => {
    void cancelBackend(config, (client as unknown as { processID: number }).processID);
  };
  signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}

function describeRunError(error: unknown, migration: Migration, direction: Direction, file: MigrationFile, interrupted: boolean, lockWait?: LockWait): OnevaultError {
  const fields = postgresFieldsOf(error);
  const message = error instanceof Error ? error.message : String(error);
  const where = locate(file, fields);
  const verb = direction === 'FORWARD' ? 'Migration' : 'Rollback';

  if (interrupted) {
    return new OnevaultError('INTERRUPTED', `${verb} ${migration.version} was interrupted and rolled back, so nothing of it was applied.`, {
      hint: 'Run the command again when ready.',
      version: migration.version,
      cause: error,
      postgres: fields,
    });
  }
  if (!fields) {
    return new OnevaultError('CONNECTION_LOST', `${verb} ${migration.version} (${file.fileName}) lost its connection: ${message}.`, {
      hint: 'The server rolled the open transaction back, so nothing of this file was applied. Check the server, then run the command again.',
      version: migration.version,
      cause: error,
    });
  }
  if (fields.sqlstate === SQLSTATE_LOCK_NOT_AVAILABLE) {
    let table = relationInContext(fields.where);
    if (fields.table) table = ` on ${fields.schema ? `${fields.schema}.` : ''}${fields.table}`;
    if (lockWait) table = ` on ${describeLockWait(lockWait)}`;
    return new OnevaultError('LOCK_TIMEOUT', `${verb} ${migration.version} could not take a lock${table} within its lock_timeout${where}: ${message}.`, {
      hint: 'Another session holds a conflicting lock: wait for it to finish or end it (pg_locks and pg_stat_activity show it), or raise --migration-lock-timeout. Nothing of this file was applied.',
      version: migration.version,
      cause: error,
      postgres: fields,
    });
  }
  if (direction === 'ROLLBACK' && (fields.sqlstate === SQLSTATE_DEPENDENT_OBJECTS || /\brefus/i.test(message))) {
    return new OnevaultError('ROLLBACK_BLOCKED', message.includes(migration.version) ? message : `Rollback ${migration.version} was rejected: ${message}`, {
      hint: fields.hint ?? 'Remove or move the listed rows first, or run the rollback again with --force to back them up and remove them.',
      version: migration.version,
      cause: error,
      postgres: fields,
    });
  }
  if (fields.sqlstate === SQLSTATE_INSUFFICIENT_PRIVILEGE) {
    return new OnevaultError('INSUFFICIENT_PRIVILEGE', `${verb} ${migration.version} (${file.fileName}) failed${where} because the database user lacks a privilege: ${message}.`, {
      hint: fields.hint ?? privilegeHint(message),
      version: migration.version,
      cause: error,
      postgres: fields,
    });
  }
  if (fields.sqlstate === SQLSTATE_QUERY_CANCELED) {
    return new OnevaultError('MIGRATION_FAILED', `${verb} ${migration.version} (${file.fileName}) was cancelled${where}: ${message}.`, {
      hint: 'Nothing of this file was applied. A statement ran longer than its statement_timeout (raise --statement-timeout), or another session cancelled it.',
      version: migration.version,
      cause: error,
      postgres: fields,
    });
  }
  return new OnevaultError('MIGRATION_FAILED', `${verb} ${migration.version} (${file.fileName}) failed${where}: ${message}`, {
    hint: fields.hint ?? 'Nothing of this file was applied. Fix the cause named above and run the command again.',
    version: migration.version,
    cause: error,
    postgres: fields,
  });
}

/** Returns " on TABLE" for the relation named in an error context ("while locking tuple (0,1) in relation ..."), or "". */
function relationInContext(where: string | undefined): string {
  const match = /relation "([^"]+)"/.exec(where ?? '');
  return match ? ` on ${match[1]}` : '';
}

/** Returns " at line L, column C" for the error position that PostgreSQL reported, or "". */
function locate(file: MigrationFile, fields: PostgresErrorFields | undefined): string {
  const position = Number(fields?.position);
  if (!Number.isInteger(position) || position < 1) return '';
  // The position counts characters of the query text, which is the whole file.
  const before = [...file.sql].slice(0, position - 1).join('');
  const lines = before.split('\n');
  return ` at line ${lines.length}, column ${lines[lines.length - 1].length + 1}`;
}

async function recordFailure(client: ClientBase, run: RunRecord, failure: OnevaultError, options: RunOptions): Promise<void> {
  try {
    await client.query('ROLLBACK');
    if ((options.mode ?? 'tool') !== 'tool' || !(await hasMigrationLog(client))) return;
    await insertFailedRun(client, run, failure.message, { code: failure.code, ...(failure.postgres ?? {}) });
  } catch {
    // NOTE: when the session drops during these statements, this run gets no FAILED row. The
    // error thrown to the caller still names the failure, and the server has rolled the run back.
  }
}

/** Waits `ms`, or less when `signal` aborts first. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Says which privilege to grant for the common permission errors of a migration. */
function privilegeHint(message: string): string {
  const prefix = 'Nothing of this file was applied.';
  if (/create role/i.test(message)) return `${prefix} The migration creates cluster-wide roles: run it as a user with CREATEROLE (ALTER ROLE name CREATEROLE), then run it again.`;
  if (/create extension|extension/i.test(message)) return `${prefix} Creating the extension needs the database owner or a superuser. Ask one to run CREATE EXTENSION, then run the command again.`;
  if (/schema/i.test(message)) return `${prefix} Grant CREATE on the database (GRANT CREATE ON DATABASE name TO user) or run as the database owner, then run it again.`;
  return `${prefix} Run the command as the database owner, or grant the user the privilege named above, then run it again.`;
}
