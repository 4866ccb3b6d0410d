import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, type ClientBase } from 'pg';

import { startEmbedded, type EmbeddedServer } from '../../src/connection/embedded';
import { runCli } from '../helpers/cli';
import { databaseUrl, withFreshDatabase } from '../helpers/database';
import { fingerprintChanges, platformFingerprint } from '../helpers/platform';
import { copyPlatformMigrations, deployLockHolders, openSession, readLog, removeFolder, startCli, waitUntil, writeMigrations } from './fixtures';

const LONG_MIGRATION = 'BEGIN;\nCREATE TABLE public.relw_long (id integer);\nSELECT pg_sleep(120);\nCOMMIT;\n';

let platform: string;
let dataDir: string;
let server: EmbeddedServer;

before(async () => {
  platform = await copyPlatformMigrations();
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'relw-embedded-'));
  // mkdtemp makes the folder 0700. Opening our own folder keeps the cluster inside it, so that
  // removing the folder removes the cluster instead of leaving it in /var/lib/onevault/clusters.
  await fs.chmod(dataDir, 0o755);
  server = await startEmbedded({ dataDir });
});

after(async () => {
  await server?.stop();
  await fs.rm(dataDir, { recursive: true, force: true });
  await removeFolder(platform);
});

/** Runs statements as the embedded server's superuser. */
async function asSuperuser(database: string, statements: readonly string[]): Promise<void> {
  const client = new Client({ connectionString: databaseUrl(server.connectionString, database) });
  await client.connect();
  try {
    for (const statement of statements) await client.query(statement);
  } finally {
    await client.end();
  }
}

function embeddedUrl(database: string, user?: string, password?: string): string {
  const url = new URL(databaseUrl(server.connectionString, database));
  if (user !== undefined) url.username = user;
  if (password !== undefined) url.password = password;
  return url.toString();
}

async function hasPlatformSchemas(client: ClientBase): Promise<boolean> {
  const result = await client.query(`SELECT 1 FROM pg_namespace WHERE nspname IN ('util', 'auth', 'audit')`);
  return (result.rowCount ?? 0) > 0;
}

describe('connection faults', () => {
  it('unreachable server', async () => {
    const result = await runCli(['deploy', '--database-url', 'postgres://postgres@127.0.0.1:1/relw_unreachable', '--migrations', platform]);

    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /error CONNECTION_REFUSED: No PostgreSQL server answered at postgres:\/\/postgres@127\.0\.0\.1:1\/relw_unreachable \(ECONNREFUSED\)/);
    assert.match(result.stderr, /hint: Start the server or fix the host and port/);
  });

  it('wrong password', async () => {
    const result = await runCli(['deploy', '--database-url', embeddedUrl('postgres', 'postgres', 'relw-wrong-password'), '--migrations', platform]);

    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /error AUTHENTICATION_FAILED: The server rejected the credentials for postgres:\/\/postgres:\*\*\*\*@127\.0\.0\.1:\d+\/postgres/);
    assert.match(result.stderr, /password authentication failed for user "postgres"/);
    assert.match(result.stderr, /hint: Check the user and password/);
    assert.doesNotMatch(result.stderr, /relw-wrong-password/, 'the password is printed');
  });

  it('missing database', async () => {
    const result = await runCli(['deploy', '--database-url', embeddedUrl('relw_missing'), '--migrations', platform]);

    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /error DATABASE_NOT_FOUND: The database in postgres:\/\/postgres:\*\*\*\*@127\.0\.0\.1:\d+\/relw_missing does not exist/);
    assert.match(result.stderr, /hint: .*--create-database/);
  });

  it('no CONNECT privilege', async () => {
    await asSuperuser('postgres', [
      `CREATE ROLE relw_outsider LOGIN PASSWORD 'relw-outsider'`,
      'CREATE DATABASE relw_private',
      'REVOKE CONNECT ON DATABASE relw_private FROM PUBLIC',
    ]);
    try {
      const result = await runCli(['deploy', '--database-url', embeddedUrl('relw_private', 'relw_outsider', 'relw-outsider'), '--migrations', platform]);

      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /error INSUFFICIENT_PRIVILEGE: The user in postgres:\/\/relw_outsider:\*\*\*\*@127\.0\.0\.1:\d+\/relw_private may not connect/);
      assert.match(result.stderr, /hint: GRANT CONNECT ON DATABASE/);
    } finally {
      await asSuperuser('postgres', ['DROP DATABASE relw_private', 'DROP ROLE relw_outsider']);
    }
  });

  it('no CREATE privilege', async () => {
    await asSuperuser('postgres', [`CREATE ROLE relw_reader LOGIN PASSWORD 'relw-reader'`, 'CREATE DATABASE relw_readonly']);
    await asSuperuser('relw_readonly', ['REVOKE CREATE ON SCHEMA public FROM PUBLIC']);
    try {
      const result = await runCli(['deploy', '--database-url', embeddedUrl('relw_readonly', 'relw_reader', 'relw-reader'), '--migrations', platform]);

      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /error INSUFFICIENT_PRIVILEGE: Migration V000 \(V000__create_platform_foundation\.sql\) failed because the database user lacks a privilege: permission denied/);
      assert.match(result.stderr, /hint: /);

      const client = new Client({ connectionString: embeddedUrl('relw_readonly') });
      await client.connect();
      try {
        assert.equal(await hasPlatformSchemas(client), false, 'the failed deploy left schemas behind');
      } finally {
        await client.end();
      }
    } finally {
      await asSuperuser('postgres', ['DROP DATABASE relw_readonly', 'DROP ROLE relw_reader']);
    }
  });

  it('server restart during a deploy', async () => {
    const folder = await writeMigrations({}, platform);
    for (const file of await fs.readdir(folder)) if (!file.startsWith('V000__')) await fs.rm(path.join(folder, file));
    await fs.writeFile(path.join(folder, 'V001__create_relw_long.sql'), LONG_MIGRATION);
    await fs.writeFile(path.join(folder, 'V001__rollback_relw_long.sql'), 'SELECT 1;\n');
    await asSuperuser('postgres', ['CREATE DATABASE relw_restart']);
    const url = embeddedUrl('relw_restart');

    try {
      const deploy = startCli(['deploy', '--database-url', url, '--migrations', folder]);
      const observer = new Client({ connectionString: url });
      await observer.connect();
      try {
        await waitUntil('the migration sleeps', async () => {
          const sleeping = await observer.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = 'onevault' AND wait_event = 'PgSleep'`);
          return (sleeping.rowCount ?? 0) > 0;
        });
      } finally {
        await observer.end();
      }

      const restartStarted = Date.now();
      await server.stop();
      server = await startEmbedded({ dataDir });
      const restartMs = Date.now() - restartStarted;
      const result = await deploy.result;

      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /error CONNECTION_LOST: Migration V001 \(V001__create_relw_long\.sql\) lost its connection to the server/);
      assert.match(result.stderr, /The server rolled back the open transaction, so nothing of this file was applied\./);
      assert.match(result.stderr, /The run is recorded as FAILED in util\.migration_log\./, `restart took ${restartMs} ms`);
      assert.match(result.stderr, /hint: Check that the server is up/);

      const client = new Client({ connectionString: url });
      await client.connect();
      try {
        assert.equal((await client.query(`SELECT to_regclass('public.relw_long') AS t`)).rows[0].t, null, 'the interrupted migration left its table');
        const v001 = (await readLog(client)).filter((run) => run.version === 'V001');
        assert.equal(v001.length, 1);
        assert.equal(v001[0].status, 'FAILED');
        assert.equal(v001[0].errorCode, 'CONNECTION_LOST');
        assert.deepEqual(await deployLockHolders(client), []);
      } finally {
        await client.end();
      }

      const converged = await runCli(['deploy', '--database-url', url, '--migrations', platform]);
      assert.equal(converged.code, 0, converged.stderr);
      assert.match(converged.stdout, /\+ V001 system_operations_tenant \.+ ok/);
    } finally {
      await asSuperuser('postgres', ['DROP DATABASE IF EXISTS relw_restart WITH (FORCE)']);
      await removeFolder(folder);
    }
  });

  it('dropped connection during a rollback', async () => {
    await withFreshDatabase(async (client, url) => {
      assert.equal((await runCli(['deploy', '--to', 'V001', '--database-url', url, '--migrations', platform])).code, 0);
      const fingerprintBefore = await platformFingerprint(client);

      // A held table lock keeps the rollback waiting inside its transaction until its session is ended.
      const holder = await openSession(url, 'relw-table-holder');
      try {
        await holder.query('BEGIN');
        await holder.query('LOCK TABLE auth.tenant_h IN ACCESS EXCLUSIVE MODE');
        const rollback = startCli(['rollback', '--yes', '--migration-lock-timeout', '60s', '--database-url', url, '--migrations', platform]);
        let rollbackPid = 0;
        await waitUntil('the rollback waits for the table lock', async () => {
          const waiting = await client.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE application_name = 'onevault' AND wait_event_type = 'Lock'`);
          rollbackPid = waiting.rows[0]?.pid ?? 0;
          return rollbackPid !== 0;
        });

        await client.query('SELECT pg_terminate_backend($1)', [rollbackPid]);
        const result = await rollback.result;

        assert.equal(result.code, 1, result.stderr);
        assert.match(result.stderr, /error CONNECTION_LOST: Rollback V001 \(V001__rollback_system_operations_tenant\.sql\) lost its connection to the server/);
        assert.match(result.stderr, /nothing of this file was applied/);
        assert.match(result.stderr, /The run is recorded as FAILED/);
      } finally {
        await holder.query('ROLLBACK').catch(() => undefined);
        await holder.end();
      }

      assert.equal(fingerprintChanges(fingerprintBefore, await platformFingerprint(client)), '', 'the dropped rollback changed the platform');
      const backups = await client.query(`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'onevault\\_backup\\_%'`);
      assert.equal(backups.rowCount, 0, 'the dropped rollback left a backup schema');
      const last = (await readLog(client)).at(-1);
      assert.equal(last?.direction, 'ROLLBACK');
      assert.equal(last?.status, 'FAILED');
      assert.equal(last?.errorCode, 'CONNECTION_LOST');
      assert.deepEqual(await deployLockHolders(client), []);

      const retried = await runCli(['rollback', '--yes', '--database-url', url, '--migrations', platform]);
      assert.equal(retried.code, 0, retried.stderr);
    });
  });
});
