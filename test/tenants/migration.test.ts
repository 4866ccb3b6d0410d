import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Client } from 'pg';

import { deploy } from '../../src/apply/deploy';
import { rollback } from '../../src/apply/rollback';
import { runMigrationFile } from '../../src/apply/run-migration';
import { lintPaths } from '../../src/lint/lint';
import { loadMigrations, type Migration } from '../../src/migrations/catalog';
import { registerTenant } from '../../src/tenants';
import { MIGRATIONS_DIR } from '../helpers/cli';
import { withFreshDatabase } from '../helpers/database';
import { deployAll, fingerprintChanges, platformFingerprint, runPsqlFile } from '../helpers/platform';
import { scalar, validRequest } from './fixtures';

async function v002(): Promise<Migration> {
  const migration = (await loadMigrations(MIGRATIONS_DIR)).find((candidate) => candidate.version === 'V002');
  assert.ok(migration, 'migrations/ has no V002');
  return migration;
}

async function backupSchemas(client: Client): Promise<string[]> {
  const result = await client.query<{ nspname: string }>(`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'onevault\\_backup\\_v002\\_%' ORDER BY 1`);
  return result.rows.map((row) => row.nspname);
}

async function hasRegisterFunction(client: Client): Promise<boolean> {
  return scalar<boolean>(client, `SELECT to_regprocedure('api.tenant_register(jsonb)') IS NOT NULL`);
}

describe('V002 migration pair', () => {
  it('passes lint without findings', async () => {
    const migration = await v002();
    const report = await lintPaths([migration.forward.path, migration.rollback.path]);
    assert.deepEqual(report.files.flatMap((file) => file.findings), []);
  });

  it('redeploy changes nothing', async () => {
    await withFreshDatabase(async (client) => {
      await deployAll(client);
      const before = await platformFingerprint(client);

      const result = await runMigrationFile(client, await v002(), 'FORWARD');
      assert.ok(result.notices.includes('ℹ️ Tenant Registration Functions already exist (11)'), result.notices.join('\n'));
      assert.equal(fingerprintChanges(before, await platformFingerprint(client)), '');

      await runMigrationFile(client, await v002(), 'FORWARD', { mode: 'psql' });
      assert.equal(fingerprintChanges(before, await platformFingerprint(client)), '');
    });
  });

  it('rollback refuses registered tenants', async () => {
    await withFreshDatabase(async (client) => {
      await deployAll(client);
      assert.equal((await registerTenant(client, validRequest())).success, true);

      const report = await rollback(client, { migrationsDir: MIGRATIONS_DIR, to: 'V001' });

      assert.equal(report.error?.code, 'ROLLBACK_BLOCKED');
      assert.match(report.error?.message ?? '', /refused/);
      assert.equal(await hasRegisterFunction(client), true);
      assert.deepEqual(await backupSchemas(client), []);
      assert.equal(Number(await scalar<string>(client, 'SELECT count(*) FROM auth.tenant_h')), 2);
    });
  });

  it('forced V001 rollback blocked by V002', async () => {
    await withFreshDatabase(async (client, url) => {
      await deployAll(client);
      const v001Rollback = (await loadMigrations(MIGRATIONS_DIR)).find((candidate) => candidate.version === 'V001')?.rollback.path;
      assert.ok(v001Rollback, 'migrations/ has no V001 rollback');
      const before = await platformFingerprint(client);

      const result = await runPsqlFile(url, v001Rollback, { PGOPTIONS: '-c onevault.force_rollback=on' });

      assert.match(result.stderr, /ERROR: {2}Rollback V001 rejected: \d+ function\(s\) call util\.get_system_operations_tenant_hk\(\), which this rollback would drop: [^\n]*api\.tenant_register\(jsonb\)/);
      assert.match(result.stderr, /HINT: {2}Nothing was changed\. Roll back V002 first/);
      assert.doesNotMatch(result.stderr, /rows that V001 did not write, per table: functions/);
      assert.equal(await scalar<boolean>(client, `SELECT to_regprocedure('util.get_system_operations_tenant_hk()') IS NOT NULL`), true);
      assert.equal(fingerprintChanges(before, await platformFingerprint(client)), '');
    });
  });

  it('V001 rejection names both ways to force', async () => {
    await withFreshDatabase(async (client, url) => {
      await deployAll(client, 'V001');
      await client.query(`INSERT INTO raw.tenant_registration_r (tenant_hk, request_payload, received_at, record_source) VALUES (util.get_system_operations_tenant_hk(), '{}', now(), 'test')`);
      const v001Rollback = (await loadMigrations(MIGRATIONS_DIR)).find((candidate) => candidate.version === 'V001')?.rollback.path;
      assert.ok(v001Rollback, 'migrations/ has no V001 rollback');

      const result = await runPsqlFile(url, v001Rollback);

      assert.match(result.stderr, /ERROR: {2}Rollback V001 rejected: the System Operations tenant is in use\. Rows that V001 did not write reference it \(rows per table: raw\.tenant_registration_r: 1\)\./);
      assert.match(result.stderr, /onevault rollback --force/);
      assert.match(result.stderr, /PGOPTIONS='-c onevault\.force_rollback=on'/);
      assert.match(result.stderr, /SET onevault\.force_rollback = 'on'/);
      assert.doesNotMatch(result.stderr, /function\(s\) call/);
    });
  });

  it('forced rollback restores the V001 state', async () => {
    await withFreshDatabase(async (client) => {
      await deployAll(client, 'V001');
      const beforeV002 = await platformFingerprint(client);
      await deployAll(client);
      const registered = await registerTenant(client, validRequest());
      assert.equal(registered.success, true);
      assert.equal((await registerTenant(client, validRequest({ tenant_name: '?' }))).success, false);

      const report = await rollback(client, { migrationsDir: MIGRATIONS_DIR, to: 'V001', force: true });

      assert.equal(report.error, undefined, report.error?.message);
      const schemas = await backupSchemas(client);
      assert.equal(schemas.length, 1);
      assert.match(schemas[0], /^onevault_backup_v002_\d{14}_[0-9a-f]{8}$/);
      const backedUp = await client.query<{ table_name: string; rows: string }>(
        `SELECT table_name, (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', table_schema, table_name), false, true, '')))[1]::text AS rows
         FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`,
        [schemas[0]],
      );
      assert.deepEqual(
        Object.fromEntries(backedUp.rows.map((row) => [row.table_name, Number(row.rows)])),
        {
          auth_role_h: 2,
          auth_role_profile_s: 2,
          auth_tenant_h: 1,
          auth_tenant_profile_s: 1,
          auth_user_auth_s: 1,
          auth_user_h: 1,
          auth_user_profile_s: 1,
          auth_user_role_l: 1,
          raw_tenant_registration_r: 2,
          staging_tenant_registration_s: 2,
        },
      );
      assert.equal(fingerprintChanges(beforeV002, await platformFingerprint(client)), '');
    });
  });

  it('second rollback changes nothing', async () => {
    await withFreshDatabase(async (client) => {
      await deployAll(client);
      assert.equal((await registerTenant(client, validRequest({ tenant_name: '!' }))).success, false);
      const first = await rollback(client, { migrationsDir: MIGRATIONS_DIR, to: 'V001' });
      assert.equal(first.error, undefined, first.error?.message);
      assert.equal((await backupSchemas(client)).length, 1);
      const afterFirst = await platformFingerprint(client);

      const second = await runMigrationFile(client, await v002(), 'ROLLBACK');

      assert.ok(second.notices.includes('ℹ️ No Tenant Registration Rows to remove (no backup schema created)'), second.notices.join('\n'));
      assert.equal((await backupSchemas(client)).length, 1);
      assert.equal(fingerprintChanges(afterFirst, await platformFingerprint(client)), '');
    });
  });

  it('deploys again after rollback', async () => {
    await withFreshDatabase(async (client) => {
      await deployAll(client);
      const deployed = await platformFingerprint(client);
      const rolledBack = await rollback(client, { migrationsDir: MIGRATIONS_DIR, to: 'V001' });
      assert.equal(rolledBack.error, undefined, rolledBack.error?.message);
      assert.equal(await hasRegisterFunction(client), false);

      const report = await deploy(client, { migrationsDir: MIGRATIONS_DIR });

      assert.equal(report.error, undefined, report.error?.message);
      assert.equal(fingerprintChanges(deployed, await platformFingerprint(client)), '');
      assert.equal((await registerTenant(client, validRequest())).success, true);
    });
  });

  it('runs under psql -f without ON_ERROR_STOP', async () => {
    await withFreshDatabase(async (client, url) => {
      await deployAll(client, 'V001');
      const migration = await v002();

      const forward = await runPsqlFile(url, migration.forward.path);
      assert.equal(forward.code, 0, forward.stderr);
      assert.match(forward.stderr, /🎉 Migration V002 completed successfully!/);
      assert.equal(await hasRegisterFunction(client), true);

      const back = await runPsqlFile(url, migration.rollback.path);
      assert.match(back.stderr, /🎉 Rollback V002 completed successfully!/);
      assert.equal(await hasRegisterFunction(client), false);
    });
  });

  it('stops whole when V001 is missing', async () => {
    await withFreshDatabase(async (client, url) => {
      await deployAll(client, 'V000');
      const migration = await v002();

      const result = await runPsqlFile(url, migration.forward.path);

      assert.match(result.stderr, /V002 prerequisites missing: .*function util\.get_system_operations_tenant_hk\(\)/);
      assert.doesNotMatch(result.stderr, /completed successfully/);
      assert.equal(await hasRegisterFunction(client), false);
      const columns = await scalar<string>(client, `SELECT count(*) FROM information_schema.columns WHERE table_name = 'tenant_registration_r' AND column_name = 'error_code'`);
      assert.equal(Number(columns), 0);
    });
  });
});
