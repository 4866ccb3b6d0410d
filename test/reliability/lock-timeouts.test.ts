import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { runCli } from '../helpers/cli';
import { withFreshDatabase } from '../helpers/database';
import { copyPlatformMigrations, deployLockHolders, openSession, readLog, removeFolder, startCli } from './fixtures';

let platform: string;

before(async () => {
  platform = await copyPlatformMigrations();
});

after(async () => {
  await removeFolder(platform);
});

describe('table lock timeouts', () => {
  it('retries, then fails naming the table', async () => {
    await withFreshDatabase(async (client, url) => {
      assert.equal((await runCli(['deploy', '--to', 'V000', '--database-url', url, '--migrations', platform])).code, 0);
      const holder = await openSession(url, 'relw-table-holder');
      try {
        await holder.query('BEGIN');
        await holder.query('LOCK TABLE auth.tenant_h IN ACCESS EXCLUSIVE MODE');
        const holderPid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;

        const result = await runCli(['deploy', '--to', 'V001', '--migration-lock-timeout', '200ms', '--lock-retries', '2', '--database-url', url, '--migrations', platform]);

        assert.equal(result.code, 1, result.stderr);
        assert.match(result.stderr, /V001: lock timeout, retry 1 in 1\.0 s/);
        assert.match(result.stderr, /V001: lock timeout, retry 2 in 2\.0 s/);
        assert.doesNotMatch(result.stderr, /retry 3/);
        assert.match(result.stderr, /error LOCK_TIMEOUT: Migration V001 could not take a lock on auth\.tenant_h/);
        assert.match(result.stderr, new RegExp(`blocked by session ${holderPid}, relw-table-holder, user postgres`));
        assert.match(result.stderr, /AccessExclusiveLock/);
        assert.match(result.stderr, /Gave up after 3 attempts/);
        assert.match(result.stdout, /\+ V001 system_operations_tenant \.+ not ok/);

        const failures = (await readLog(client)).filter((run) => run.version === 'V001');
        assert.equal(failures.length, 3, 'one FAILED row per attempt');
        for (const failure of failures) {
          assert.equal(failure.status, 'FAILED');
          assert.equal(failure.errorCode, 'LOCK_TIMEOUT');
        }
        assert.deepEqual(await deployLockHolders(client), [], 'the deploy lock is still held');
      } finally {
        await holder.query('ROLLBACK').catch(() => undefined);
        await holder.end();
      }

      const tenants = await client.query(`SELECT 1 FROM auth.tenant_h WHERE tenant_bk = 'SYSTEM_OPERATIONS'`);
      assert.equal(tenants.rowCount, 0, 'a timed-out attempt left rows behind');

      const retried = await runCli(['deploy', '--to', 'V001', '--database-url', url, '--migrations', platform]);
      assert.equal(retried.code, 0, retried.stderr);
      assert.match(retried.stdout, /\+ V001 system_operations_tenant \.+ ok/);
    });
  });

  it('succeeds when the lock frees during retries', async () => {
    await withFreshDatabase(async (client, url) => {
      assert.equal((await runCli(['deploy', '--to', 'V000', '--database-url', url, '--migrations', platform])).code, 0);
      const holder = await openSession(url, 'relw-table-holder');
      try {
        await holder.query('BEGIN');
        await holder.query('LOCK TABLE auth.tenant_h IN ACCESS EXCLUSIVE MODE');

        const deploy = startCli(['deploy', '--to', 'V001', '--migration-lock-timeout', '200ms', '--lock-retries', '5', '--database-url', url, '--migrations', platform]);
        await deploy.waitForStderr(/retry 1 in/);
        await holder.query('COMMIT');
        const result = await deploy.result;

        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, /\+ V001 system_operations_tenant \.+ ok/);
        const runs = (await readLog(client)).filter((run) => run.version === 'V001');
        assert.ok(runs.some((run) => run.status === 'FAILED' && run.errorCode === 'LOCK_TIMEOUT'), 'the timed-out attempt is not recorded');
        assert.equal(runs.filter((run) => run.status === 'SUCCESS').length, 1);
      } finally {
        await holder.end();
      }
    });
  });

  it('statement timeout fails cleanly', async () => {
    await withFreshDatabase(async (client, url) => {
      assert.equal((await runCli(['deploy', '--to', 'V001', '--database-url', url, '--migrations', platform])).code, 0);
      const holder = await openSession(url, 'relw-table-holder');
      try {
        await holder.query('BEGIN');
        await holder.query('LOCK TABLE auth.tenant_h IN ACCESS EXCLUSIVE MODE');

        // The lock wait outlasts the statement timeout, so the statement timeout ends it.
        const result = await runCli(['rollback', '--yes', '--statement-timeout', '300ms', '--migration-lock-timeout', '30s', '--database-url', url, '--migrations', platform]);

        assert.equal(result.code, 1, result.stderr);
        assert.match(result.stderr, /error MIGRATION_FAILED: Rollback V001 \(V001__rollback_system_operations_tenant\.sql\) was cancelled.*statement timeout/);
        assert.match(result.stderr, /hint: .*--statement-timeout/);
        const last = (await readLog(client)).at(-1);
        assert.equal(last?.status, 'FAILED');
        assert.equal(last?.direction, 'ROLLBACK');
        assert.deepEqual(await deployLockHolders(client), []);
      } finally {
        await holder.query('ROLLBACK').catch(() => undefined);
        await holder.end();
      }

      const tenants = await client.query(`SELECT 1 FROM auth.tenant_h WHERE tenant_bk = 'SYSTEM_OPERATIONS'`);
      assert.equal(tenants.rowCount, 1, 'the cancelled rollback removed rows');
    });
  });
});
