import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import { Client } from 'pg';

import { getEmbeddedStatus, startEmbedded, stopEmbedded } from '../../src/connection/embedded';
import { ensureDatabase } from '../../src/connection/session';
import { isProcessAlive } from '../../src/connection/embedded-process';

const BIN = path.resolve(__dirname, '../../../bin/onevault.js');
const WAIT_TIMEOUT_MS = 30_000;
const CONNECTION_VARIABLES = ['DATABASE_URL', 'PGHOST', 'PGPORT', 'PGDATABASE', 'PGUSER', 'PGPASSWORD', 'DB_HOST', 'DB_PORT', 'DB_NAME', 'DB_USER', 'DB_PASSWORD'];

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'onevault-embedded-signals-'));
// The test made this folder, so it may open it to the postgres OS user (the normal layout).
fs.chmodSync(workDir, 0o755);
const dataDir = path.join(workDir, '.onevault');
const children: ChildProcess[] = [];

after(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  await stopEmbedded({ dataDir }).catch(() => undefined);
  fs.rmSync(workDir, { recursive: true, force: true });
});

/** Writes a migration pair whose forward file creates a table and then sleeps, so that a test can interrupt it. */
function writeSlowMigrations(): string {
  const folder = path.join(workDir, 'slow-migrations');
  fs.mkdirSync(folder, { recursive: true });
  fs.writeFileSync(path.join(folder, 'V000__create_slow_marker.sql'), 'CREATE TABLE public.slow_marker (id int);\nSELECT pg_sleep(60);\n');
  fs.writeFileSync(path.join(folder, 'V000__rollback_slow_marker.sql'), 'DROP TABLE IF EXISTS public.slow_marker;\n');
  return folder;
}

interface CliProcess {
  readonly child: ChildProcess;
  readonly output: () => string;
  readonly waitForOutput: (pattern: RegExp) => Promise<void>;
  readonly exited: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>;
}

/** Starts `onevault ARGS` against the embedded server of `dataDir`, with no connection settings in its environment. */
function startCli(args: readonly string[]): CliProcess {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  for (const name of CONNECTION_VARIABLES) delete env[name];
  const child = spawn(process.execPath, [BIN, '--data-dir', dataDir, ...args], { cwd: workDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);

  let output = '';
  const listeners: (() => void)[] = [];
  const onData = (chunk: Buffer): void => {
    output += chunk.toString('utf8');
    for (const listener of [...listeners]) listener();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const waitForOutput = (pattern: RegExp): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no output matching ${pattern} within ${WAIT_TIMEOUT_MS} ms:\n${output}`)), WAIT_TIMEOUT_MS);
      const check = (): void => {
        if (!pattern.test(output)) return;
        clearTimeout(timer);
        listeners.splice(listeners.indexOf(check), 1);
        resolve();
      };
      listeners.push(check);
      check();
    });

  return { child, output: () => output, waitForOutput, exited };
}

/** Builds the connection string of the running server's one_vault database from the data folder's credentials. */
function oneVaultUrl(): string {
  const credentials = JSON.parse(fs.readFileSync(path.join(dataDir, 'credentials.json'), 'utf8')) as { password: string; port: number };
  return `postgres://postgres:${encodeURIComponent(credentials.password)}@127.0.0.1:${credentials.port}/one_vault`;
}

/** Waits until a session of the server runs pg_sleep, which proves the slow migration is in its statement. */
async function waitForSleepingStatement(): Promise<void> {
  const deadline = Date.now() + WAIT_TIMEOUT_MS;
  for (;;) {
    let client: Client | undefined;
    try {
      client = new Client({ connectionString: oneVaultUrl() });
      await client.connect();
      const sleeping = await client.query("SELECT 1 FROM pg_catalog.pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()");
      if (sleeping.rowCount === 1) return;
    } catch {
      // The cluster, its credentials or the database may not exist yet.
    } finally {
      await client?.end().catch(() => undefined);
    }
    if (Date.now() > deadline) throw new Error('the slow migration never reached pg_sleep');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Lists the postmasters whose command line names this data folder's cluster. */
function postmastersOfDataDir(): number[] {
  const clusterDir = path.join(dataDir, 'data');
  return fs
    .readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(clusterDir) && isProcessAlive(Number(pid));
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Checks that no server of the data folder runs, and that the next start works and shows no trace of the slow migration. */
async function assertServerGoneAndRestartable(): Promise<void> {
  assert.deepEqual(postmastersOfDataDir(), []);
  assert.equal(fs.existsSync(path.join(dataDir, 'server.lock')), false);

  const server = await startEmbedded({ dataDir });
  try {
    const client = new Client({ connectionString: server.connectionString.replace(/\/postgres$/, '/one_vault') });
    await client.connect();
    try {
      const marker = await client.query("SELECT to_regclass('public.slow_marker') IS NULL AS absent");
      assert.deepEqual(marker.rows, [{ absent: true }]);
    } finally {
      await client.end();
    }
  } finally {
    await server.stop();
  }
}

describe('embedded server and CLI signals', () => {
  test('first SIGINT rolls back before the stop', async () => {
    const migrations = writeSlowMigrations();
    const cli = startCli(['deploy', '--migrations', migrations]);
    await waitForSleepingStatement();

    cli.child.kill('SIGINT');
    const exit = await cli.exited;

    assert.equal(exit.code, 130, cli.output());
    // A stopped server would have ended the session (57P01), not cancelled the statement.
    assert.match(cli.output(), /V000 was interrupted and rolled back/);
    assert.doesNotMatch(cli.output(), /terminat|connection lost|CONNECTION_LOST/i);
    await assertServerGoneAndRestartable();
  });

  test('second signal stops the server and exits', async () => {
    const migrations = writeSlowMigrations();
    const cli = startCli(['deploy', '--migrations', migrations]);
    await waitForSleepingStatement();

    // Two different signals, because a second SIGINT sent at once could merge with the first.
    cli.child.kill('SIGINT');
    cli.child.kill('SIGTERM');
    const exit = await cli.exited;

    assert.equal(exit.code, 130, cli.output());
    assert.match(cli.output(), /SIGTERM again: exiting now/);
    await assertServerGoneAndRestartable();
  });

  test('SIGINT during status stops its server', async () => {
    // util.migration_log as a view that sleeps blocks the status command after its server started.
    await withOneVaultSession(async (client) => {
      await client.query('CREATE SCHEMA IF NOT EXISTS util');
      await client.query('DROP TABLE IF EXISTS util.migration_log');
      await client.query(`
        CREATE OR REPLACE VIEW util.migration_log AS
        SELECT NULL::bigint AS migration_log_id, NULL::uuid AS run_id, NULL::text AS version, NULL::text AS name,
               NULL::text AS direction, NULL::text AS status, NULL::timestamptz AS started_at, NULL::timestamptz AS finished_at,
               NULL::text AS executed_by, NULL::text AS executed_via, NULL::text AS checksum, NULL::text AS error_message,
               NULL::jsonb AS details
        FROM pg_catalog.pg_sleep(60)`);
    });

    const cli = startCli(['status', '--migrations', writeSlowMigrations()]);
    await waitForSessionIn('PgSleep');
    const status = await getEmbeddedStatus({ dataDir });
    assert.equal(status.running, true);
    assert.equal(status.mode, 'command');

    cli.child.kill('SIGINT');
    const exit = await cli.exited;

    assert.equal(exit.code, 130, cli.output());
    assert.match(cli.output(), /SIGINT received/);
    assert.equal(isProcessAlive(status.pid as number), false);
    await assertServerGoneAndRestartable();
  });
});

/** Starts the data folder's server for this process, runs `work` on its one_vault database, and stops it. */
async function withOneVaultSession(work: (client: Client) => Promise<void>): Promise<void> {
  const server = await startEmbedded({ dataDir });
  try {
    await ensureDatabase(server.connectionString, 'one_vault');
    const client = new Client({ connectionString: oneVaultUrl() });
    await client.connect();
    try {
      await work(client);
    } finally {
      await client.end();
    }
  } finally {
    await server.stop();
  }
}

/** Waits until another session of the server waits on `waitEvent` (for example PgSleep). */
async function waitForSessionIn(waitEvent: string): Promise<void> {
  const deadline = Date.now() + WAIT_TIMEOUT_MS;
  for (;;) {
    let client: Client | undefined;
    try {
      client = new Client({ connectionString: oneVaultUrl() });
      await client.connect();
      const waiting = await client.query('SELECT 1 FROM pg_catalog.pg_stat_activity WHERE wait_event = $1 AND pid <> pg_backend_pid()', [waitEvent]);
      if ((waiting.rowCount ?? 0) > 0) return;
    } catch {
      // The server may not have started yet.
    } finally {
      await client?.end().catch(() => undefined);
    }
    if (Date.now() > deadline) throw new Error(`no session waited on ${waitEvent} within ${WAIT_TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

