import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { deploy } from '../../src/apply/deploy';
import { rollback } from '../../src/apply/rollback';
import { OnevaultError } from '../../src/errors';
import { DEPLOY_LOCK_KEY } from '../../src/lock/advisory-lock';
import { runCli } from '../helpers/cli';
import { withFreshDatabase } from '../helpers/database';
import { copyPlatformMigrations, deployLockHolders, openSession, readLog, removeFolder, startCli, waitUntil, writeMigrations } from './fixtures';

const PROCESS_COUNT = 8;

let platform: string;
let versions: string[];

before(async () => {
  platform = await copyPlatformMigrations();
  versions = [...new Set((await fs.readdir(platform)).map((name) => name.slice(0, 4)))].sort();
});

after(async () => {
  await removeFolder(platform);
});

describe('deploy lock', () => {
  it(`${PROCESS_COUNT} concurrent deploys apply each migration once`, async () => {
    await withFreshDatabase(async (client, url) => {
      const results = await Promise.all(
        Array.from({ length: PROCESS_COUNT }, () => runCli(['deploy', '--database-url', url, '--migrations', platform], { timeoutMs: 180_000 })),
      );

      results.forEach((result, index) => assert.equal(result.code, 0, `process ${index + 1}: ${result.stderr}`));
      const applied = results.map((result) => Number(/deploy: (\d+) applied/.exec(result.stdout)?.[1] ?? NaN));
      assert.equal(applied.reduce((sum, count) => sum + count, 0), versions.length, `applied counts per process: ${applied.join(', ')}`);
      assert.ok(results.some((result) => /Waiting for the deploy lock, held by session \d+ \(onevault, user postgres\)/.test(result.stderr)), 'no process announced a wait');

      const runs = await readLog(client);
      for (const version of versions) {
        const successes = runs.filter((run) => run.version === version && run.direction === 'FORWARD' && run.status === 'SUCCESS');
        assert.equal(successes.length, 1, `${version} was applied ${successes.length} times`);
      }
      assert.equal(runs.filter((run) => run.status !== 'SUCCESS').length, 0, 'a run failed');
      const deployEvents = await client.query(`SELECT 1 FROM audit.audit_detail_s WHERE action = 'DEPLOY V000'`);
      assert.equal(deployEvents.rowCount, 1);
      assert.deepEqual(await deployLockHolders(client), []);
    });
  });

  it('waiting deploy names the holder', async () => {
    await withFreshDatabase(async (client, url) => {
      const holder = await openSession(url, 'relw-lock-holder');
      try {
        await holder.query(`SELECT pg_advisory_lock(${DEPLOY_LOCK_KEY}::bigint)`);
        const holderPid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;

        const waiting = startCli(['deploy', '--lock-timeout', '60s', '--database-url', url, '--migrations', platform]);
        const stderr = await waiting.waitForStderr(/Waiting for the deploy lock/);
        assert.match(stderr, new RegExp(`Waiting for the deploy lock, held by session ${holderPid} \\(relw-lock-holder, user postgres\\)`));
        assert.equal((await client.query(`SELECT to_regclass('util.migration_log') AS log`)).rows[0].log, null, 'the waiting deploy ran something');

        await holder.query(`SELECT pg_advisory_unlock(${DEPLOY_LOCK_KEY}::bigint)`);
        const result = await waiting.result;
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, new RegExp(`deploy: ${versions.length} applied`));
      } finally {
        await holder.end();
      }
    });
  });

  it('lock wait times out with LOCK_TIMEOUT', async () => {
    await withFreshDatabase(async (client, url) => {
      const holder = await openSession(url, 'relw-lock-holder');
      try {
        await holder.query(`SELECT pg_advisory_lock(${DEPLOY_LOCK_KEY}::bigint)`);
        const holderPid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;

        const result = await runCli(['deploy', '--lock-timeout', '1s', '--database-url', url, '--migrations', platform]);

        assert.equal(result.code, 1, result.stderr);
        assert.match(result.stderr, new RegExp(`error LOCK_TIMEOUT: The deploy lock is still held by session ${holderPid} \\(relw-lock-holder, user postgres\\) after 1 s`));
        assert.match(result.stderr, /hint: .*--lock-timeout/);
        assert.equal((await client.query(`SELECT to_regclass('util.migration_log') AS log`)).rows[0].log, null, 'the timed-out deploy ran something');
        assert.deepEqual(await deployLockHolders(client), [holderPid]);
      } finally {
        await holder.end();
      }
    });
  });

  it('CREATE INDEX CONCURRENTLY finishes while another deploy waits', async () => {
    const folder = await writeMigrations(
      {
        'V001__create_relw_concurrent_index.sql':
          '-- Builds an index without blocking writers; one statement, so no transaction block.\n' +
          'CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_relw_audit_event_h_record_source ON audit.audit_event_h (record_source);\n',
        'V001__rollback_relw_concurrent_index.sql': 'DROP INDEX CONCURRENTLY IF EXISTS audit.idx_relw_audit_event_h_record_source;\n',
      },
      platform,
    );
    for (const name of await fs.readdir(folder)) if (!name.startsWith('V000__') && !name.includes('relw_')) await fs.rm(path.join(folder, name));

    try {
      await withFreshDatabase(async (client, url) => {
        assert.equal((await runCli(['deploy', '--to', 'V000', '--database-url', url, '--migrations', folder])).code, 0);

        // A writer's open transaction makes the index build wait in its first phase, so that the
        // second deploy is surely polling for the lock while the build runs.
        const writer = await openSession(url, 'relw-writer');
        await writer.query('BEGIN');
        await writer.query('LOCK TABLE audit.audit_event_h IN ROW EXCLUSIVE MODE');

        const first = startCli(['deploy', '--migration-lock-timeout', '60s', '--database-url', url, '--migrations', folder]);
        await waitUntil('the index build waits for the writer', async () => {
          const waiting = await client.query(`SELECT 1 FROM pg_stat_activity WHERE query ILIKE '%CREATE INDEX CONCURRENTLY%' AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`);
          return (waiting.rowCount ?? 0) > 0;
        });
        const firstPid = (await deployLockHolders(client))[0];

        const second = startCli(['deploy', '--lock-timeout', '60s', '--database-url', url, '--migrations', folder]);
        await second.waitForStderr(/Waiting for the deploy lock/);
        assert.match(second.stderr(), new RegExp(`held by session ${firstPid} \\(onevault, user postgres\\)`));
        await writer.query('COMMIT');
        await writer.end();

        const [firstResult, secondResult] = await Promise.all([first.result, second.result]);
        assert.equal(firstResult.code, 0, firstResult.stderr);
        assert.match(firstResult.stdout, /\+ V001 relw_concurrent_index \.+ ok/);
        assert.equal(secondResult.code, 0, secondResult.stderr);
        assert.match(secondResult.stdout, /Nothing to deploy/);

        const index = await client.query(`SELECT indisvalid FROM pg_index WHERE indexrelid = 'audit.idx_relw_audit_event_h_record_source'::regclass`);
        assert.equal(index.rows[0]?.indisvalid, true);
        const recorded = (await readLog(client)).filter((run) => run.version === 'V001' && run.status === 'SUCCESS');
        assert.equal(recorded.length, 1, 'the tool did not record the file that cannot record itself');
        assert.equal(recorded[0].details?.recorded_by, 'onevault');
      });
    } finally {
      await removeFolder(folder);
    }
  });

  it('lock is released after a failure', async () => {
    const folder = await writeMigrations({}, platform);
    for (const name of await fs.readdir(folder)) if (!name.startsWith('V000__')) await fs.rm(path.join(folder, name));
    const fixtures: Record<string, string> = {
      'V001__create_relw_table.sql': 'CREATE TABLE IF NOT EXISTS public.relw_table (id integer);\n',
      'V001__rollback_relw_table.sql': 'BEGIN;\nDROP TABLE public.relw_table;\nSELECT 1 / 0;\nCOMMIT;\n',
      'V002__create_relw_failing.sql': 'BEGIN;\nCREATE TABLE public.relw_partial (id integer);\nSELECT 1 / 0;\nCOMMIT;\n',
      'V002__rollback_relw_failing.sql': 'SELECT 1;\n',
    };
    for (const [name, sql] of Object.entries(fixtures)) await fs.writeFile(path.join(folder, name), sql);

    try {
      await withFreshDatabase(async (client, url) => {
        const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;

        const failedDeploy = await deploy(client, { migrationsDir: folder });
        assert.equal(failedDeploy.error?.code, 'MIGRATION_FAILED');
        assert.equal(failedDeploy.error?.version, 'V002');
        assert.deepEqual(await deployLockHolders(client), [], 'deploy kept the lock after a failed migration');
        assert.equal((await client.query(`SELECT to_regclass('public.relw_partial') AS t`)).rows[0].t, null);

        const failedRollback = await rollback(client, { migrationsDir: folder });
        assert.equal(failedRollback.error?.code, 'MIGRATION_FAILED');
        assert.equal(failedRollback.error?.version, 'V001');
        assert.deepEqual(await deployLockHolders(client), [], 'rollback kept the lock after a failed rollback');
        assert.notEqual((await client.query(`SELECT to_regclass('public.relw_table') AS t`)).rows[0].t, null, 'the failed rollback dropped the table');

        const other = await openSession(url, 'relw-lock-holder');
        try {
          await other.query(`SELECT pg_advisory_lock(${DEPLOY_LOCK_KEY}::bigint)`);
          await assert.rejects(deploy(client, { migrationsDir: folder, lockWaitMs: 300 }), (error: unknown) => error instanceof OnevaultError && error.code === 'LOCK_TIMEOUT');
          assert.ok(!(await deployLockHolders(client)).includes(pid), 'a timed-out wait took the lock');
        } finally {
          await other.end();
        }
      });
    } finally {
      await removeFolder(folder);
    }
  });
});
