import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ClientBase } from 'pg';

import { runCli } from '../helpers/cli';
import { withFreshDatabase } from '../helpers/database';
import { fingerprintChanges, platformFingerprint, SYSTEM_ROLE_HK_HEX, SYSTEM_TENANT_HK_HEX } from '../helpers/platform';
import { copyPlatformMigrations, openSession, removeFolder, startCli } from './fixtures';
import { DEPLOY_LOCK_KEY } from '../../src/lock/advisory-lock';

let platform: string;

before(async () => {
  platform = await copyPlatformMigrations();
});

after(async () => {
  await removeFolder(platform);
});

interface RestoreJson {
  readonly backupSchema: string;
  readonly version: string;
  readonly complete: boolean;
  readonly inserted: number;
  readonly tables: ReadonlyArray<{ table: string; backedUp: number; alreadyPresent: number; inserted: number; keptExisting: number; notRestored: number }>;
}

/** Adds a user of the system tenant with a profile and the system role, rows that V001 did not write. */
async function addSystemTenantUser(client: ClientBase): Promise<void> {
  await client.query(
    `WITH new_user AS (
       SELECT util.hash_binary('relw-operator') AS user_hk, decode($1, 'hex') AS tenant_hk, clock_timestamp() AS load_date
     ),
     hub AS (
       INSERT INTO auth.user_h (user_hk, user_bk, tenant_hk, load_date, record_source)
       SELECT user_hk, 'relw-operator', tenant_hk, load_date, 'relw-test' FROM new_user
       RETURNING user_hk
     ),
     profile AS (
       INSERT INTO auth.user_profile_s (user_hk, load_date, hash_diff, tenant_hk, first_name, last_name, email, is_active, record_source)
       SELECT user_hk, load_date, util.hash_binary('profile'), tenant_hk, 'Rel', 'Iability', 'relw@example.invalid', true, 'relw-test' FROM new_user
       RETURNING user_hk
     )
     INSERT INTO auth.user_role_l (link_user_role_hk, user_hk, role_hk, tenant_hk, load_date, record_source)
     SELECT util.hash_binary('relw-link'), new_user.user_hk, decode($2, 'hex'), new_user.tenant_hk, new_user.load_date, 'relw-test'
     FROM new_user
     WHERE EXISTS (SELECT 1 FROM hub) AND EXISTS (SELECT 1 FROM profile)`,
    [SYSTEM_TENANT_HK_HEX, SYSTEM_ROLE_HK_HEX],
  );
}

async function latestBackupSchema(client: ClientBase): Promise<string> {
  const result = await client.query<{ nspname: string }>(`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'onevault\\_backup\\_%' ORDER BY nspname DESC LIMIT 1`);
  assert.equal(result.rowCount, 1, 'the rollback created no backup schema');
  return result.rows[0].nspname;
}

/** Deploys V000 and V001, adds a system tenant user, and rolls V001 back with --force; returns the backup schema. */
async function rollBackWithBackup(client: ClientBase, url: string): Promise<string> {
  assert.equal((await runCli(['deploy', '--to', 'V001', '--database-url', url, '--migrations', platform])).code, 0);
  await addSystemTenantUser(client);
  const rolledBack = await runCli(['rollback', '--to', 'V000', '--force', '--yes', '--database-url', url, '--migrations', platform]);
  assert.equal(rolledBack.code, 0, rolledBack.stderr);
  return latestBackupSchema(client);
}

describe('onevault restore', () => {
  it('restores in foreign-key order and verifies counts', async () => {
    await withFreshDatabase(async (client, url) => {
      assert.equal((await runCli(['deploy', '--to', 'V001', '--database-url', url, '--migrations', platform])).code, 0);
      await addSystemTenantUser(client);
      const fingerprintBefore = await platformFingerprint(client);
      assert.equal((await runCli(['rollback', '--to', 'V000', '--force', '--yes', '--database-url', url, '--migrations', platform])).code, 0);
      const schema = await latestBackupSchema(client);

      const result = await runCli(['restore', schema, '--json', '--database-url', url]);

      assert.equal(result.code, 0, result.stderr);
      const report = JSON.parse(result.stdout) as RestoreJson;
      assert.equal(report.backupSchema, schema);
      assert.equal(report.version, 'V001');
      assert.equal(report.complete, true);
      const order = report.tables.map((table) => table.table);
      const assertBefore = (parent: string, child: string): void => assert.ok(order.indexOf(parent) < order.indexOf(child), `${parent} must come before ${child}: ${order.join(', ')}`);
      assertBefore('auth.tenant_h', 'auth.tenant_profile_s');
      assertBefore('auth.tenant_h', 'auth.user_h');
      assertBefore('auth.tenant_h', 'auth.role_h');
      assertBefore('auth.user_h', 'auth.user_profile_s');
      assertBefore('auth.user_h', 'auth.user_role_l');
      assertBefore('auth.role_h', 'auth.user_role_l');
      assertBefore('auth.role_h', 'auth.role_profile_s');

      for (const table of report.tables) {
        const backedUp = await client.query<{ count: string }>(`SELECT count(*) AS count FROM "${schema}"."${table.table.replace('.', '_')}"`);
        assert.equal(table.backedUp, Number(backedUp.rows[0].count), `${table.table}: backed-up count`);
        assert.equal(table.inserted, table.backedUp, `${table.table}: inserted count`);
        assert.equal(table.notRestored, 0, `${table.table}: rows left out`);
      }
      assert.equal(report.inserted, 7, 'tenant, profile, role, role profile, user, user profile and link');

      const redeployed = await runCli(['deploy', '--to', 'V001', '--database-url', url, '--migrations', platform]);
      assert.equal(redeployed.code, 0, redeployed.stderr);
      assert.equal(fingerprintChanges(fingerprintBefore, await platformFingerprint(client)), '');

      const audit = await client.query(`SELECT details, object_schema FROM audit.audit_detail_s WHERE event_type = 'MIGRATION' AND action = 'RESTORE V001'`);
      assert.equal(audit.rowCount, 1);
      assert.equal(audit.rows[0].object_schema, schema);
      assert.equal(audit.rows[0].details.inserted, 7);
      assert.equal(audit.rows[0].details.complete, true);
      assert.equal(audit.rows[0].details.tables['auth.user_h'].inserted, 1);
    });
  });

  it('restoring twice changes nothing', async () => {
    await withFreshDatabase(async (client, url) => {
      const schema = await rollBackWithBackup(client, url);
      assert.equal((await runCli(['restore', schema, '--database-url', url])).code, 0);
      const afterFirst = await platformFingerprint(client);

      const second = await runCli(['restore', schema, '--json', '--database-url', url]);

      assert.equal(second.code, 0, second.stderr);
      const report = JSON.parse(second.stdout) as RestoreJson;
      assert.equal(report.inserted, 0);
      assert.equal(report.complete, true);
      for (const table of report.tables) assert.equal(table.alreadyPresent, table.backedUp, `${table.table}: rows not found as backed up`);
      assert.equal(fingerprintChanges(afterFirst, await platformFingerprint(client)), '');
    });
  });

  it('prints counts per table', async () => {
    await withFreshDatabase(async (client, url) => {
      const schema = await rollBackWithBackup(client, url);

      const result = await runCli(['restore', schema, '--database-url', url]);

      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, new RegExp(`Restore of ${schema} \\(rollback V001, run [0-9a-f-]{36}\\):`));
      assert.match(result.stdout, /auth\.user_h \.+ ok \(1 backed up: 1 inserted, 0 already present, 0 kept with other values, 0 not restored\)/);
      assert.match(result.stdout, /restore: 7 rows inserted into 7 tables/);
    });
  });

  it('reports rows a redeploy replaced', async () => {
    await withFreshDatabase(async (client, url) => {
      const schema = await rollBackWithBackup(client, url);
      assert.equal((await runCli(['deploy', '--to', 'V001', '--database-url', url, '--migrations', platform])).code, 0);

      const result = await runCli(['restore', schema, '--json', '--database-url', url]);

      assert.equal(result.code, 3, result.stderr);
      const report = JSON.parse(result.stdout) as RestoreJson;
      assert.equal(report.complete, false);
      const byTable = new Map(report.tables.map((table) => [table.table, table]));
      assert.equal(byTable.get('auth.tenant_h')?.keptExisting, 1, 'the tenant hub written again by the deploy is kept');
      assert.equal(byTable.get('auth.tenant_profile_s')?.notRestored, 1, 'the old current profile cannot coexist with the new one');
      assert.equal(byTable.get('auth.user_h')?.inserted, 1, 'the user comes back');
      assert.equal(byTable.get('auth.user_role_l')?.inserted, 1, 'the role link comes back');
    });
  });

  it('rejects a missing backup schema', async () => {
    await withFreshDatabase(async (client, url) => {
      const schema = await rollBackWithBackup(client, url);

      const result = await runCli(['restore', 'onevault_backup_v001_20000101000000_00000000', '--database-url', url]);

      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /error BACKUP_NOT_FOUND: Backup schema onevault_backup_v001_20000101000000_00000000 does not exist/);
      assert.match(result.stderr, new RegExp(`hint: Backup schemas here, newest first: ${schema}`));
    });
  });

  it('rejects a schema that is no backup', async () => {
    await withFreshDatabase(async (client, url) => {
      await client.query('CREATE SCHEMA onevault_backup_v001_20000101000000_deadbeef');
      await client.query('CREATE TABLE onevault_backup_v001_20000101000000_deadbeef.auth_tenant_h (tenant_hk bytea)');

      for (const schema of ['public', 'onevault_backup_v001_20000101000000_deadbeef']) {
        const result = await runCli(['restore', schema, '--database-url', url]);
        assert.equal(result.code, 1, `${schema}: ${result.stderr}`);
        assert.match(result.stderr, new RegExp(`error BACKUP_INVALID: Schema ${schema} is not a onevault backup`), schema);
      }
    });
  });

  it('requires the target tables', async () => {
    await withFreshDatabase(async (client, url) => {
      assert.equal((await runCli(['deploy', '--to', 'V000', '--database-url', url, '--migrations', platform])).code, 0);
      const schema = 'onevault_backup_v001_20000101000000_0badc0de';
      await client.query(`CREATE SCHEMA ${schema}`);
      await client.query(`COMMENT ON SCHEMA ${schema} IS 'Rows removed by rollback V001 (run 0badc0de-0000-4000-8000-000000000000) at 2000-01-01 00:00:00 UTC.'`);
      await client.query(`CREATE TABLE ${schema}.auth_relw_gone_h (relw_gone_hk bytea)`);
      await client.query(`COMMENT ON TABLE ${schema}.auth_relw_gone_h IS 'Rows of auth.relw_gone_h removed by rollback V001 (run 0badc0de-0000-4000-8000-000000000000).'`);

      const result = await runCli(['restore', schema, '--database-url', url]);

      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, new RegExp(`error PREREQUISITE_MISSING: Backup ${schema} restores into auth\\.relw_gone_h, which does not exist`));
      assert.match(result.stderr, /hint: Deploy the migration that creates it first/);
    });
  });

  it('waits for the deploy lock', async () => {
    await withFreshDatabase(async (client, url) => {
      const schema = await rollBackWithBackup(client, url);
      const holder = await openSession(url, 'relw-lock-holder');
      try {
        await holder.query(`SELECT pg_advisory_lock(${DEPLOY_LOCK_KEY}::bigint)`);
        const restore = startCli(['restore', schema, '--database-url', url]);
        await restore.waitForStderr(/Waiting for the deploy lock, held by session \d+ \(relw-lock-holder, user postgres\)/);
        const users = await client.query(`SELECT 1 FROM auth.user_h WHERE user_bk = 'relw-operator'`);
        assert.equal(users.rowCount, 0, 'the restore ran without the lock');

        await holder.query(`SELECT pg_advisory_unlock(${DEPLOY_LOCK_KEY}::bigint)`);
        const result = await restore.result;
        assert.equal(result.code, 0, result.stderr);
      } finally {
        await holder.end();
      }
    });
  });
});
