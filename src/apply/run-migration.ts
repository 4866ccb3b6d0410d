import { randomUUID } from 'node:crypto';
import type { ClientBase } from 'pg';
import type { NoticeMessage } from 'pg-protocol/dist/messages';

import { OnevaultError, postgresFieldsOf, type PostgresErrorFields } from '../errors';
import type { Direction, Migration, MigrationFile } from '../migrations/catalog';
import { hasMigrationLog } from '../migrations/history';
import { cancelBackend } from './cancel';

/** Default `lock_timeout` of every migration: how long one statement waits for a table lock. */
export const DEFAULT_LOCK_TIMEOUT_MS = 5_000;
/** Default `statement_timeout` of every migration: the longest one statement may run. */
export const DEFAULT_STATEMENT_TIMEOUT_MS = 10 * 60_000;
/** Default number of extra attempts after a lock timeout. */
export const DEFAULT_LOCK_RETRIES = 3;
const LOCK_RETRY_BASE_DELAY_MS = 1_000;

const SQLSTATE_LOCK_NOT_AVAILABLE = '55P03';
const SQLSTATE_QUERY_CANCELED = '57014';
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
  /** Connection settings used to cancel the running statement when `signal` aborts. */
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
 * On failure it rolls the session back, records a FAILED row in `util.migration_log` outside the
 * failed transaction (when the log exists), and throws `MIGRATION_FAILED`, `ROLLBACK_BLOCKED`,
 * `LOCK_TIMEOUT`, `INTERRUPTED` or `CONNECTION_LOST`. A lock timeout is retried with backoff.
 */
export async function runMigrationFile(client: ClientBase, migration: Migration, direction: Direction, options: RunOptions = {}): Promise<RunResult> {
  const file = direction === 'FORWARD' ? migration.forward : migration.rollback;
  const retries = options.lockRetries ?? DEFAULT_LOCK_RETRIES;
  const started = Date.now();

  for (let attempt = 1; ; attempt += 1) {
    const runId = randomUUID();
    const notices: string[] = [];
    const onNotice = (notice: NoticeMessage): void => {
      const message = notice.message ?? '';
      notices.push(message);
      options.onEvent?.({ type: 'notice', version: migration.version, direction, message });
    };

    await applySessionSettings(client, file, runId, options);
    const attemptStarted = new Date();
    const stopCancelling = watchSignal(client, options);
    client.on('notice', onNotice);
    try {
      await client.query(file.sql);
      return { version: migration.version, name: migration.name, direction, runId, durationMs: Date.now() - started, notices, attempts: attempt };
    } catch (error) {
      const interrupted = options.signal?.aborted === true && postgresFieldsOf(error)?.sqlstate === SQLSTATE_QUERY_CANCELED;
      const failure = describeRunError(error, migration, direction, file, interrupted);
      await recordFailure(client, migration, direction, file, runId, attemptStarted, failure, options);

      if (failure.code === 'LOCK_TIMEOUT' && attempt <= retries && !options.signal?.aborted) {
        const delayMs = LOCK_RETRY_BASE_DELAY_MS * 2 ** (attempt - 1);
        options.onEvent?.({ type: 'retry', version: migration.version, direction, attempt, delayMs, reason: failure.message });
        await sleep(delayMs);
        continue;
      }
      throw failure;
    } finally {
      client.off('notice', onNotice);
      stopCancelling();
    }
  }
}

async function applySessionSettings(client: ClientBase, file: MigrationFile, runId: string, options: RunOptions): Promise<void> {
  const asTool = (options.mode ?? 'tool') === 'tool';
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

function describeRunError(error: unknown, migration: Migration, direction: Direction, file: MigrationFile, interrupted: boolean): OnevaultError {
  const fields = postgresFieldsOf(error);
  const message = error instanceof Error ? error.message : String(error);
  const where = locate(file, fields);
  const verb = direction === 'FORWARD' ? 'Migration' : 'Rollback';

  if (interrupted) {
    return new OnevaultError('INTERRUPTED', `${verb} ${migration.version} was interrupted and rolled back; nothing of it was applied.`, {
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
    const table = fields.table ? ` on ${fields.schema ? `${fields.schema}.` : ''}${fields.table}` : '';
    return new OnevaultError('LOCK_TIMEOUT', `${verb} ${migration.version} could not take a lock${table} in time${where}: ${message}.`, {
      hint: 'Another session holds a conflicting lock; find it in pg_locks and pg_stat_activity, or raise --migration-lock-timeout.',
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
  return new OnevaultError('MIGRATION_FAILED', `${verb} ${migration.version} (${file.fileName}) failed${where}: ${message}`, {
    hint: fields.hint ?? 'Nothing of this file was applied. Fix the cause named above and run the command again.',
    version: migration.version,
    cause: error,
    postgres: fields,
  });
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

async function recordFailure(
  client: ClientBase,
  migration: Migration,
  direction: Direction,
  file: MigrationFile,
  runId: string,
  startedAt: Date,
  failure: OnevaultError,
  options: RunOptions,
): Promise<void> {
  try {
    await client.query('ROLLBACK');
    if ((options.mode ?? 'tool') !== 'tool' || !(await hasMigrationLog(client))) return;
    await client.query(
      `INSERT INTO util.migration_log
         (run_id, version, name, direction, status, started_at, finished_at, executed_via, checksum, error_message, error_detail)
       VALUES ($1, $2, $3, $4, 'FAILED', $5, clock_timestamp(), 'onevault', $6, $7, $8)`,
      [
        runId,
        migration.version,
        migration.name,
        direction,
        startedAt,
        file.checksum,
        failure.message,
        JSON.stringify({ code: failure.code, ...(failure.postgres ?? {}) }),
      ],
    );
  } catch {
    // NOTE: a FAILED row cannot be written when the connection itself is gone; the error thrown
    // to the caller still says what happened, and the server has rolled the transaction back.
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
