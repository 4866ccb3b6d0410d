import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, type ClientBase } from 'pg';

import { DEPLOY_LOCK_KEY } from '../../src/lock/advisory-lock';
import { MIGRATION_FILE_PATTERN } from '../../src/migrations/catalog';
import type { CliResult } from '../helpers/cli';
import { MIGRATIONS_DIR, REPOSITORY_ROOT } from '../helpers/cli';

// The reliability tests create their databases as relw_* unless the run names another prefix.
process.env.TEST_DATABASE_PREFIX ??= 'relw_';

const BIN = path.join(REPOSITORY_ROOT, 'bin', 'onevault.js');
const CONNECTION_VARIABLES = ['DATABASE_URL', 'PGHOST', 'PGPORT', 'PGDATABASE', 'PGUSER', 'PGPASSWORD', 'DB_HOST', 'DB_PORT', 'DB_NAME', 'DB_USER', 'DB_PASSWORD'];

/**
 * Copies the platform's migration pairs into a new temporary folder and returns it. The copy stops
 * before the first version whose pair is incomplete, so a migration still being written in the
 * repository does not break these tests.
 */
export async function copyPlatformMigrations(): Promise<string> {
  const folder = await fs.mkdtemp(path.join(os.tmpdir(), 'relw-migrations-'));
  const names = (await fs.readdir(MIGRATIONS_DIR)).filter((name) => MIGRATION_FILE_PATTERN.test(name));
  for (let number = 0; ; number += 1) {
    const version = `V${String(number).padStart(3, '0')}__`;
    const pair = names.filter((name) => name.startsWith(version));
    const complete = pair.some((name) => name.includes('__create_')) && pair.some((name) => name.includes('__rollback_'));
    if (pair.length !== 2 || !complete) break;
    for (const name of pair) await fs.copyFile(path.join(MIGRATIONS_DIR, name), path.join(folder, name));
  }
  return folder;
}

/** Writes a migrations folder with the given files (name to SQL) and returns it. */
export async function writeMigrations(files: Readonly<Record<string, string>>, base?: string): Promise<string> {
  const folder = await fs.mkdtemp(path.join(os.tmpdir(), 'relw-fixture-'));
  if (base) for (const name of await fs.readdir(base)) await fs.copyFile(path.join(base, name), path.join(folder, name));
  for (const [name, sql] of Object.entries(files)) await fs.writeFile(path.join(folder, name), sql);
  return folder;
}

export async function removeFolder(folder: string): Promise<void> {
  await fs.rm(folder, { recursive: true, force: true });
}

/** A running `onevault` process whose output can be awaited while it runs. */
export interface CliProcess {
  readonly child: ChildProcess;
  readonly result: Promise<CliResult>;
  /** Output so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with stderr once it matches `pattern`; rejects after `timeoutMs` or when the process ends first. */
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<string>;
}

/** Starts `onevault ARGS` like runCli does (connection variables cleared, NO_COLOR set), without waiting for it. */
export function startCli(args: readonly string[], options: { readonly env?: NodeJS.ProcessEnv; readonly timeoutMs?: number } = {}): CliProcess {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  for (const name of CONNECTION_VARIABLES) delete env[name];
  Object.assign(env, options.env ?? {});

  const child = spawn(process.execPath, [BIN, ...args], { cwd: REPOSITORY_ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const listeners = new Set<() => void>();
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
    for (const listener of listeners) listener();
  });
  child.stdin?.end();

  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
  const result = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      for (const listener of listeners) listener();
      resolve({ code, stdout, stderr });
    });
  });

  return {
    child,
    result,
    stdout: () => stdout,
    stderr: () => stderr,
    waitForStderr(pattern: RegExp, timeoutMs = 30_000): Promise<string> {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (pattern.test(stderr)) {
            finish();
            resolve(stderr);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            finish();
            reject(new Error(`onevault ${args.join(' ')} ended before stderr matched ${pattern}:\n${stderr}`));
          }
        };
        const deadline = setTimeout(() => {
          finish();
          reject(new Error(`stderr did not match ${pattern} within ${timeoutMs} ms:\n${stderr}`));
        }, timeoutMs);
        const finish = (): void => {
          clearTimeout(deadline);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
  };
}

/** Opens a session on `url` with an application name, for tests that hold locks. */
export async function openSession(url: string, applicationName: string): Promise<Client> {
  const client = new Client({ connectionString: url, application_name: applicationName });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** Returns the pids of the sessions that hold the deploy lock in the client's database. */
export async function deployLockHolders(client: ClientBase): Promise<number[]> {
  const result = await client.query<{ pid: number }>(
    `SELECT pid
     FROM pg_catalog.pg_locks
     WHERE locktype = 'advisory'
       AND database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
       AND ((classid::bigint << 32) | objid::bigint) = $1::bigint
       AND objsubid = 1
       AND granted`,
    [DEPLOY_LOCK_KEY],
  );
  return result.rows.map((row) => row.pid);
}

/** Polls until no session holds the deploy lock; rejects after `timeoutMs`. */
export async function waitForDeployLockFree(client: ClientBase, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await deployLockHolders(client)).length > 0) {
    if (Date.now() > deadline) throw new Error(`The deploy lock is still held after ${timeoutMs} ms by ${(await deployLockHolders(client)).join(', ')}`);
    await delay(50);
  }
}

/** Polls until `predicate` resolves true; rejects with `what` after `timeoutMs`. */
export async function waitUntil(what: string, predicate: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting until ${what}`);
    await delay(50);
  }
}

export interface LoggedRun {
  readonly version: string;
  readonly direction: string;
  readonly status: string;
  readonly errorMessage: string | null;
  readonly errorCode: string | null;
  readonly details: Record<string, unknown> | null;
}

/** Reads util.migration_log, oldest first. */
export async function readLog(client: ClientBase): Promise<LoggedRun[]> {
  const result = await client.query(
    `SELECT version, direction, status, error_message, error_detail ->> 'code' AS error_code, details
     FROM util.migration_log
     ORDER BY migration_log_id`,
  );
  return result.rows.map((row) => ({
    version: row.version,
    direction: row.direction,
    status: row.status,
    errorMessage: row.error_message,
    errorCode: row.error_code,
    details: row.details,
  }));
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
