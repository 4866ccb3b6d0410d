import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Client, ClientConfig } from 'pg';

import { findPostgresTool, type FindToolOptions } from '../backup/find-postgres-tool';
import { childEnvironmentFor } from '../backup/libpq-environment';
import { runProgram } from '../backup/run-program';
import { connectClient, quoteIdentifier, withDatabase } from '../connection/connect';
import { OnevaultError, postgresFieldsOf } from '../errors';

export type CopyMethod = 'template' | 'dump and restore';

export interface ScratchCopy {
  readonly database: string;
  readonly method: CopyMethod;
  /** Settings that connect to the copy. */
  readonly config: ClientConfig;
}

export interface ScratchCopyOptions {
  /** Settings that connect to the source database. */
  readonly config: ClientConfig;
  readonly sourceDatabase: string;
  /** Aborting drops the copy at once, which ends the work's session on it. */
  readonly signal?: AbortSignal;
  readonly onCreated?: (copy: ScratchCopy) => void;
  readonly onDropped?: (database: string) => void;
  readonly onProgress?: (message: string) => void;
  /** Search folders for pg_dump and pg_restore; see `findPostgresTool`. */
  readonly findTool?: FindToolOptions;
}

export type ScratchCopyOutcome<T> = { readonly status: 'done'; readonly value: T; readonly copy: ScratchCopy } | { readonly status: 'skipped'; readonly reason: string };

const SQLSTATE_OBJECT_IN_USE = '55006';
const SQLSTATE_INSUFFICIENT_PRIVILEGE = '42501';
const SQLSTATE_INVALID_CATALOG_NAME = '3D000';
const MAX_IDENTIFIER_BYTES = 63;

/**
 * Makes a new database from the source, runs `work` with a session on it, and drops it afterwards
 * (`DROP DATABASE ... WITH (FORCE)`), also when `work` throws or `signal` aborts. The copy is made
 * with `CREATE DATABASE ... TEMPLATE` when no other session uses the source; otherwise with
 * pg_dump and pg_restore. Returns `skipped` with the reason when no copy can be made (no
 * CREATEDB privilege, other sessions and no pg_dump). The source is never changed.
 * Throws what `work` throws, or `SCRATCH_DATABASE_FAILED` when the copy cannot be dropped.
 */
export async function withScratchCopy<T>(options: ScratchCopyOptions, work: (client: Client, copy: ScratchCopy) => Promise<T>): Promise<ScratchCopyOutcome<T>> {
  const admin = await connectMaintenance(options.config);
  const database = scratchNameFor(options.sourceDatabase);
  let dumpFolder: string | undefined;
  let created = false;
  let dropping: Promise<void> | undefined;

  const dropCopy = (): Promise<void> => {
    if (!created) return Promise.resolve();
    dropping ??= dropDatabase(admin, database).then(() => options.onDropped?.(database));
    return dropping;
  };
  const onAbort = (): void => {
    void dropCopy().catch(() => undefined);
  };

  try {
    let method: CopyMethod = 'template';
    const byTemplate = await createFromTemplate(admin, database, options.sourceDatabase);
    if (byTemplate === 'in use') {
      method = 'dump and restore';
      options.onProgress?.(`Other sessions use ${options.sourceDatabase}, so it is copied with pg_dump and pg_restore instead of CREATE DATABASE ... TEMPLATE.`);
      const skipReason = await createEmptyDatabase(admin, database);
      if (skipReason) return { status: 'skipped', reason: skipReason };
      created = true;
      dumpFolder = await fs.mkdtemp(path.join(os.tmpdir(), 'onevault-scratch-'));
      const dumpSkip = await copyByDump(options, database, path.join(dumpFolder, 'source.dump'));
      if (dumpSkip) return { status: 'skipped', reason: dumpSkip };
    } else if (byTemplate !== undefined) {
      return { status: 'skipped', reason: byTemplate };
    }
    created = true;
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) throw new OnevaultError('INTERRUPTED', `Interrupted before the scratch copy ${database} was used.`);

    const copy: ScratchCopy = { database, method, config: withDatabase(options.config, database) };
    options.onCreated?.(copy);
    let client: Client | undefined;
    try {
      client = await connectClient(copy.config, `scratch copy ${database}`);
      return { status: 'done', value: await work(client, copy), copy };
    } catch (error) {
      // An abort drops the copy under the work's feet, so whatever failed next is the abort's doing.
      if (options.signal?.aborted) throw new OnevaultError('INTERRUPTED', `Interrupted; the scratch copy ${database} was dropped.`, { cause: error });
      throw error;
    } finally {
      await client?.end().catch(() => undefined);
    }
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    try {
      await dropCopy();
    } finally {
      if (dumpFolder) await fs.rm(dumpFolder, { recursive: true, force: true });
      await admin.end().catch(() => undefined);
    }
  }
}

/** Returns `<source>_scratch_<8 random hex digits>`, shortened to PostgreSQL's 63-byte identifier limit. */
export function scratchNameFor(source: string): string {
  const suffix = `_scratch_${randomBytes(4).toString('hex')}`;
  let prefix = source;
  while (Buffer.byteLength(prefix + suffix) > MAX_IDENTIFIER_BYTES) prefix = prefix.slice(0, -1);
  return prefix + suffix;
}

/** Opens a session on the server's `postgres` database, or `template1` when there is none. */
async function connectMaintenance(config: ClientConfig): Promise<Client> {
  try {
    return await connectClient(withDatabase(config, 'postgres'), 'maintenance database postgres');
  } catch (error) {
    if (!(error instanceof OnevaultError) || error.code !== 'DATABASE_NOT_FOUND') throw error;
    return connectClient(withDatabase(config, 'template1'), 'maintenance database template1');
  }
}

/** Returns undefined when the copy was made, `in use` when other sessions block it, or a skip reason. */
async function createFromTemplate(admin: Client, database: string, source: string): Promise<string | undefined> {
  try {
    await admin.query(`CREATE DATABASE ${quoteIdentifier(database)} TEMPLATE ${quoteIdentifier(source)}`);
    return undefined;
  } catch (error) {
    const sqlstate = postgresFieldsOf(error)?.sqlstate;
    if (sqlstate === SQLSTATE_OBJECT_IN_USE) return 'in use';
    if (sqlstate === SQLSTATE_INSUFFICIENT_PRIVILEGE) return `the user may not create databases, so no scratch copy of ${source} can be made (${(error as Error).message}); grant CREATEDB or run as a user that has it`;
    throw new OnevaultError('SCRATCH_DATABASE_FAILED', `Creating the scratch copy ${database} of ${source} failed: ${(error as Error).message}.`, { cause: error, postgres: postgresFieldsOf(error) });
  }
}

async function createEmptyDatabase(admin: Client, database: string): Promise<string | undefined> {
  try {
    await admin.query(`CREATE DATABASE ${quoteIdentifier(database)} TEMPLATE template0`);
    return undefined;
  } catch (error) {
    if (postgresFieldsOf(error)?.sqlstate === SQLSTATE_INSUFFICIENT_PRIVILEGE) return `the user may not create databases (${(error as Error).message}); grant CREATEDB or run as a user that has it`;
    throw new OnevaultError('SCRATCH_DATABASE_FAILED', `Creating the scratch database ${database} failed: ${(error as Error).message}.`, { cause: error, postgres: postgresFieldsOf(error) });
  }
}

/** Copies the source into `database` with pg_dump -Fc and pg_restore; returns a skip reason when the tools are missing. */
async function copyByDump(options: ScratchCopyOptions, database: string, dumpFile: string): Promise<string | undefined> {
  const serverMajor = await readServerMajor(options.config);
  let pgDump: string;
  let pgRestore: string;
  try {
    pgDump = (await findPostgresTool('pg_dump', serverMajor, options.findTool)).path;
    pgRestore = (await findPostgresTool('pg_restore', serverMajor, options.findTool)).path;
  } catch (error) {
    if (error instanceof OnevaultError && error.code === 'TOOL_NOT_FOUND') {
      return `other sessions use ${options.sourceDatabase}, which rules out CREATE DATABASE ... TEMPLATE, and ${error.message} ${error.hint ?? ''}`.trim();
    }
    throw error;
  }

  const sourceEnv = { ...childEnvironmentFor(options.config), PGDATABASE: options.sourceDatabase };
  const dump = await runProgram(pgDump, ['--format=custom', '--no-password', `--file=${dumpFile}`], { env: sourceEnv, signal: options.signal });
  if (dump.exitCode !== 0) {
    throw new OnevaultError('SCRATCH_DATABASE_FAILED', `pg_dump of ${options.sourceDatabase} for the scratch copy failed with exit code ${dump.exitCode ?? dump.signal}: ${dump.stderr}`);
  }

  const copyEnv = { ...childEnvironmentFor(options.config), PGDATABASE: database };
  // --no-owner: the copy belongs to the user running the tests, who need not be able to assume the original owners.
  const restore = await runProgram(pgRestore, ['--exit-on-error', '--no-owner', '--no-password', `--dbname=${database}`, dumpFile], { env: copyEnv, signal: options.signal });
  if (restore.exitCode !== 0) {
    throw new OnevaultError('SCRATCH_DATABASE_FAILED', `pg_restore into the scratch copy ${database} failed with exit code ${restore.exitCode ?? restore.signal}: ${restore.stderr}`);
  }
  return undefined;
}

async function readServerMajor(config: ClientConfig): Promise<number> {
  const client = await connectClient(config, 'source database');
  try {
    const row = (await client.query<{ version_num: string }>(`SELECT current_setting('server_version_num') AS version_num`)).rows[0];
    return Math.floor(Number(row.version_num) / 10_000);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function dropDatabase(admin: Client, database: string): Promise<void> {
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(database)} WITH (FORCE)`);
  } catch (error) {
    if (postgresFieldsOf(error)?.sqlstate === SQLSTATE_INVALID_CATALOG_NAME) return;
    throw new OnevaultError('SCRATCH_DATABASE_FAILED', `The scratch copy ${database} could not be dropped: ${(error as Error).message}.`, {
      hint: `Drop it by hand: DROP DATABASE ${quoteIdentifier(database)} WITH (FORCE);`,
      cause: error,
      postgres: postgresFieldsOf(error),
    });
  }
}
