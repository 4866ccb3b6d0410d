import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ClientBase } from 'pg';

import { DEPLOY_LOCK_KEY } from '../../src/lock/advisory-lock';
import { runCli } from '../helpers/cli';
import { withFreshDatabase } from '../helpers/database';
import { copyPlatformMigrations, deployLockHolders, openSession, readLog, removeFolder, startCli, waitForDeployLockFree, waitUntil, writeMigrations } from './fixtures';

/** A migration that creates a table, then sleeps far longer than any test waits. */
const LONG_MIGRATION = 'BEGIN;\nCREATE TABLE public.relw_long (id integer);\nSELECT pg_sleep(120);\nCOMMIT;\n';

/** A migration that catches every cancel request, so that only ending the session stops it. */
const CANCEL_IGNORING_MIGRATION = `BEGIN;
CREATE TABLE public.relw_stubborn (id integer);
DO $$
BEGIN
    FOR attempt IN 1..600 LOOP
        BEGIN
            PERFORM pg_sleep(0.1);
        EXCEPTION WHEN query_canceled THEN
            RAISE NOTICE 'relw: cancel request ignored';
        END;
    END LOOP;
END
$$;
COMMIT;
`;

let platform: string;

before(async () => {
  platform = await copyPlatformMigrations();
});

after(async () => {
  await removeFolder(platform);
});

/** Writes a folder with the platform's V000 and `sql` as V001, and returns it. */
async function folderWithV001(name: string, sql: string): Promise<string> {
  const folder = await writeMigrations({}, platform);
  for (const file of await fs.readdir(folder)) if (!file.startsWith('V000__')) await fs.rm(path.join(folder, file));
  await fs.writeFile(path.join(folder, `V001__create_${name}.sql`), sql);
  await fs.writeFile(path.join(folder, `V001__rollback_${name}.sql`), 'SELECT 1;\n');
  return folder;
}

async function waitForSleepingMigration(client: ClientBase): Promise<number> {
  let pid = 0;
  await waitUntil('the migration sleeps', async () => {
    const sleeping = await client.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE application_name = 'onevault' AND wait_event = 'PgSleep'`);
    pid = sleeping.rows[0]?.pid ?? 0;
    return pid !== 0;
  });
  return pid;
}

async function tableExists(client: ClientBase, name: string): Promise<boolean> {
  return (await client.query(`SELECT to_regclass($1) IS NOT NULL AS present`, [name])).rows[0].present;
}

describe('interruption', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} rolls back and records`, async () => {
      const folder = await folderWithV001('relw_long', LONG_MIGRATION);
      try {
        await withFreshDatabase(async (client, url) => {
          const deploy = startCli(['deploy', '--database-url', url, '--migrations', folder]);
          const backendPid = await waitForSleepingMigration(client);
          assert.deepEqual(await deployLockHolders(client), [backendPid]);

          deploy.child.kill(signal);
          const result = await deploy.result;

          assert.equal(result.code, 130, result.stderr);
          assert.match(result.stderr, new RegExp(`${signal} received: cancelling the running statement and rolling back`));
          assert.match(result.stderr, /error INTERRUPTED: Migration V001 was interrupted and rolled back, so nothing of it was applied\./);
          assert.match(result.stdout, /\+ V000 platform_foundation \.+ ok/);
          assert.match(result.stdout, /\+ V001 relw_long \.+ not ok/);
          assert.equal(await tableExists(client, 'public.relw_long'), false, 'the interrupted transaction was not rolled back');

          const v001 = (await readLog(client)).filter((run) => run.version === 'V001');
          assert.equal(v001.length, 1);
          assert.equal(v001[0].status, 'FAILED');
          assert.equal(v001[0].errorCode, 'INTERRUPTED');
          assert.deepEqual(await deployLockHolders(client), [], 'the deploy lock is still held');
        });
      } finally {
        await removeFolder(folder);
      }
    });
  }

  it('second SIGINT exits at once', async (t) => {
    const folder = await folderWithV001('relw_stubborn', CANCEL_IGNORING_MIGRATION);
    try {
      await withFreshDatabase(async (client, url) => {
        const deploy = startCli(['deploy', '--database-url', url, '--migrations', folder]);
        await waitForSleepingMigration(client);

        deploy.child.kill('SIGINT');
        await waitUntil('the migration ignores the cancel', async () => /relw: cancel request ignored/.test(deploy.stdout()));
        assert.equal(deploy.child.exitCode, null, 'the first SIGINT ended the process although the statement went on');
        deploy.child.kill('SIGINT');
        const result = await deploy.result;
        const exitedAt = Date.now();

        assert.equal(result.code, 130, result.stderr);
        assert.match(result.stderr, /SIGINT again: exiting now\./);
        // The server notices the closed connection, ends the statement, rolls back and frees the lock.
        await waitForDeployLockFree(client, 30_000);
        t.diagnostic(`deploy lock freed ${Date.now() - exitedAt} ms after the process exited`);
        assert.equal(await tableExists(client, 'public.relw_stubborn'), false);
        const v001 = (await readLog(client)).filter((run) => run.version === 'V001');
        assert.ok(v001.every((run) => run.status !== 'SUCCESS'), 'V001 is recorded as applied');
      });
    } finally {
      await removeFolder(folder);
    }
  });

  it('SIGINT while waiting for the lock', async () => {
    await withFreshDatabase(async (client, url) => {
      const holder = await openSession(url, 'relw-lock-holder');
      try {
        await holder.query(`SELECT pg_advisory_lock(${DEPLOY_LOCK_KEY}::bigint)`);
        const deploy = startCli(['deploy', '--lock-timeout', '60s', '--database-url', url, '--migrations', platform]);
        await deploy.waitForStderr(/Waiting for the deploy lock/);

        deploy.child.kill('SIGINT');
        const result = await deploy.result;

        assert.equal(result.code, 130, result.stderr);
        assert.match(result.stderr, /error INTERRUPTED: Interrupted while waiting for the deploy lock/);
        assert.equal(await tableExists(client, 'util.migration_log'), false, 'the interrupted deploy ran something');
      } finally {
        await holder.end();
      }

      const deployed = await runCli(['deploy', '--database-url', url, '--migrations', platform]);
      assert.equal(deployed.code, 0, deployed.stderr);
    });
  });
});
