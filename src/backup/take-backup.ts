import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { ClientBase, ClientConfig } from 'pg';

import { OnevaultError } from '../errors';
import { findPostgresTool, type FindToolOptions, type FoundTool } from './find-postgres-tool';
import { childEnvironmentFor } from './libpq-environment';
import { runProgram } from './run-program';

export type BackupEvent =
  | { readonly type: 'tool-found'; readonly tool: FoundTool }
  | { readonly type: 'dump-start'; readonly file: string; readonly database: string }
  | { readonly type: 'verify-start'; readonly file: string };

export interface BackupOptions {
  /** Settings that connect to the database to back up; pg_dump receives them as PG* variables. */
  readonly config: ClientConfig;
  /** Backup file to write; `onevault-<database>-<UTC time>.dump` in the working folder when absent. */
  readonly outFile?: string;
  readonly signal?: AbortSignal;
  readonly onEvent?: (event: BackupEvent) => void;
  readonly findTool?: FindToolOptions;
}

export interface BackupReport {
  readonly file: string;
  readonly database: string;
  readonly serverVersion: string;
  readonly pgDump: FoundTool;
  readonly pgRestore: FoundTool;
  readonly sizeBytes: number;
  /** Entries in the archive's table of contents, as `pg_restore --list` prints them. */
  readonly objectCount: number;
  /** Entries of kind TABLE DATA: tables whose rows are in the archive. */
  readonly tableDataCount: number;
  /** SHA-256 of the file, lower-case hex. */
  readonly sha256: string;
  readonly startedAt: Date;
  readonly durationMs: number;
}

/**
 * Writes a full backup of the database `client` is connected to with pg_dump in custom format
 * (`-Fc`), using the pg_dump that fits the server's major version, then verifies it by listing
 * its table of contents with pg_restore. The archive is written to `<file>.partial` and renamed
 * only after the verification passed, so a file under the final name is always complete.
 * Throws `TOOL_NOT_FOUND`, `INVALID_ARGUMENT` (the file exists already) or `BACKUP_FAILED`; a
 * partial file is removed before the error is thrown.
 */
export async function takeBackup(client: ClientBase, options: BackupOptions): Promise<BackupReport> {
  const startedAt = new Date();
  const server = await readServer(client);
  const file = path.resolve(options.outFile ?? defaultBackupFileName(server.database, startedAt));
  await ensureFileAbsent(file);

  const pgDump = await findPostgresTool('pg_dump', server.major, options.findTool);
  options.onEvent?.({ type: 'tool-found', tool: pgDump });
  const pgRestore = await findPostgresTool('pg_restore', server.major, options.findTool);
  options.onEvent?.({ type: 'tool-found', tool: pgRestore });

  const partialFile = `${file}.partial`;
  // PGDATABASE names the database; a name passed as --dbname would be parsed as a connection string when it contains "=".
  const env = { ...childEnvironmentFor(options.config), PGDATABASE: server.database };
  try {
    options.onEvent?.({ type: 'dump-start', file, database: server.database });
    await runDump(pgDump, partialFile, server.database, env, options.signal);

    options.onEvent?.({ type: 'verify-start', file });
    const contents = await listArchive(pgRestore, partialFile, env, options.signal);
    const sizeBytes = (await fs.stat(partialFile)).size;
    const sha256 = await hashFile(partialFile);
    await fs.rename(partialFile, file);

    return {
      file,
      database: server.database,
      serverVersion: server.version,
      pgDump,
      pgRestore,
      sizeBytes,
      objectCount: contents.objectCount,
      tableDataCount: contents.tableDataCount,
      sha256,
      startedAt,
      durationMs: Date.now() - startedAt.getTime(),
    };
  } catch (error) {
    await fs.rm(partialFile, { force: true });
    throw error;
  }
}

/** Returns `onevault-<database>-<YYYYMMDDTHHMMSSZ>.dump`. */
export function defaultBackupFileName(database: string, at: Date): string {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const safeDatabase = database.replace(/[^A-Za-z0-9_.-]/g, '_');
  return `onevault-${safeDatabase}-${stamp}.dump`;
}

interface ServerFacts {
  readonly database: string;
  readonly version: string;
  readonly major: number;
}

async function readServer(client: ClientBase): Promise<ServerFacts> {
  const result = await client.query<{ database: string; version: string; version_num: string }>(
    `SELECT current_database() AS database,
            current_setting('server_version') AS version,
            current_setting('server_version_num') AS version_num`,
  );
  const row = result.rows[0];
  return { database: row.database, version: row.version, major: Math.floor(Number(row.version_num) / 10_000) };
}

async function ensureFileAbsent(file: string): Promise<void> {
  const exists = await fs.stat(file).then(
    () => true,
    () => false,
  );
  if (exists) {
    throw new OnevaultError('INVALID_ARGUMENT', `The backup file ${file} already exists.`, {
      hint: 'Choose another name with --out, or move the existing file away; a backup never overwrites one.',
    });
  }
  await fs.mkdir(path.dirname(file), { recursive: true });
}

async function runDump(pgDump: FoundTool, file: string, database: string, env: NodeJS.ProcessEnv, signal: AbortSignal | undefined): Promise<void> {
  const result = await runProgram(pgDump.path, ['--format=custom', '--no-password', `--file=${file}`], { env, signal }).catch((error: unknown) => {
    throw new OnevaultError('BACKUP_FAILED', `${pgDump.path} could not be started: ${(error as Error).message}.`, { cause: error });
  });

  if (signal?.aborted) {
    throw new OnevaultError('INTERRUPTED', 'The backup was interrupted; the partial file was removed.');
  }
  if (result.exitCode !== 0) {
    throw new OnevaultError('BACKUP_FAILED', `pg_dump of database "${database}" failed with exit code ${result.exitCode ?? result.signal}: ${result.stderr || 'no message'}`, {
      hint: 'Fix the cause named by pg_dump (connection, privileges, disk space) and run the command again.',
    });
  }
}

interface ArchiveContents {
  readonly objectCount: number;
  readonly tableDataCount: number;
}

async function listArchive(pgRestore: FoundTool, file: string, env: NodeJS.ProcessEnv, signal: AbortSignal | undefined): Promise<ArchiveContents> {
  const result = await runProgram(pgRestore.path, ['--list', file], { env, signal });
  if (signal?.aborted) {
    throw new OnevaultError('INTERRUPTED', 'The backup was interrupted while it was being verified; the partial file was removed.');
  }
  if (result.exitCode !== 0) {
    throw new OnevaultError('BACKUP_FAILED', `The backup could not be verified: pg_restore --list ${file} failed with exit code ${result.exitCode ?? result.signal}: ${result.stderr || 'no message'}`, {
      hint: 'The archive is unreadable, so it was removed. Check the disk and run the backup again.',
    });
  }

  // Lines starting with ";" are the header and comments; every other non-empty line is one entry.
  // An empty database gives an archive without entries, which is still a valid backup.
  const entries = result.stdout.split('\n').filter((line) => line.trim() !== '' && !line.startsWith(';'));
  return { objectCount: entries.length, tableDataCount: entries.filter((line) => / TABLE DATA /.test(line)).length };
}

function hashFile(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}
