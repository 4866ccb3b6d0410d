import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import type { Client } from 'pg';

import { deploy } from '../../src/apply/deploy';
import { rollback } from '../../src/apply/rollback';
import { runMigrationFile } from '../../src/apply/run-migration';
import { OnevaultError } from '../../src/errors';
import { loadMigrations, type Migration } from '../../src/migrations/catalog';
import { MIGRATIONS_DIR } from '../helpers/cli';
import { withFreshDatabase } from '../helpers/database';
import {
  deployAll,
  fingerprintChanges,
  platformFingerprint,
  runPsqlFile,
  SYSTEM_ROLE_HK_HEX,
  SYSTEM_TENANT_HK_HEX,
} from '../helpers/platform';

const PACKAGE_LINES = [
  '🚀 Starting migration V001: System Operations Tenant',
  '📋 Prerequisites Check:',
  '   Auth Schema: ✅ EXISTS',
  '   Util Functions: ✅ EXISTS',
  '   Tenant Table: ✅ EXISTS',
  '✅ Created System Operations Tenant Hub',
  '✅ Created System Operations Tenant Profile',
  '✅ Created System Operations Role',
  '✅ Created System Operations Indexes',
  '✅ Created System Operations Utility Function',
  '🎉 Migration V001 completed successfully!',
];

const SIX_PERMISSIONS = ['SYSTEM_ADMIN', 'TENANT_REGISTRATION', 'PRE_REGISTRATION_MANAGEMENT', 'SYSTEM_MONITORING', 'DATA_MIGRATION', 'BACKUP_MANAGEMENT'];

async function v001(): Promise<Migration> {
  const migrations = await loadMigrations(MIGRATIONS_DIR);
  const migration = migrations.find((candidate) => candidate.version === 'V001');
  assert.ok(migration, 'migrations/ has no V001');
  return migration;
}

async function scalar<T>(client: Client, sql: string, values: unknown[] = []): Promise<T> {
  const result = await client.query(sql, values);
  return Object.values(result.rows[0] ?? {})[0] as T;
}

/** Counts the V001 objects that exist: function, both indexes, tenant hub, role hub. */
async function v001ObjectCount(client: Client): Promise<number> {
  return scalar<number>(
    client,
    `SELECT (to_regprocedure('util.get_system_operations_tenant_hk()') IS NOT NULL)::int
          + (to_regclass('auth.idx_tenant_h_system_lookup') IS NOT NULL)::int
          + (to_regclass('auth.idx_tenant_profile_s_system_active') IS NOT NULL)::int
          + (SELECT count(*) FROM auth.tenant_h WHERE tenant_bk = 'SYSTEM_OPERATIONS')::int
          + (SELECT count(*) FROM auth.role_h WHERE role_bk = 'SYSTEM_OPERATIONS_ADMIN')::int`,
  );
}

function rollbackError(report: { error?: OnevaultError }): OnevaultError {
  assert.ok(report.error, 'the rollback should have failed');
  return report.error;
}

describe('V001 first deploy', () => {
  it('prints the package lines in order', async () => {
    await withFreshDatabase(async (client) => {
      await deployAll(client, 'V000');
      const report = await deploy(client, { migrationsDir: MIGRATIONS_DIR, to: 'V001' });
      assert.equal(report.error, undefined);
      const v001Notices = report.outcomes.find((outcome) => outcome.version === 'V001')?.notices ?? [];
      const packageLines = v001Notices.filter((line) => PACKAGE_LINES.includes(line));
      assert.deepEqual(packageLines, PACKAGE_LINES);
      assert.equal(v001Notices[0], PACKAGE_LINES[0]);
      assert.equal(v001Notices[v001Notices.length - 1], PACKAGE_LINES[PACKAGE_LINES.length - 1]);
    });
  });

  it('creates every object with the exact constants', async () => {
    await withFreshDatabase(async (client) => {
      await deployAll(client, 'V001');

      assert.equal(await scalar(client, `SELECT encode(util.get_system_operations_tenant_hk(), 'hex')`), SYSTEM_TENANT_HK_HEX);
      assert.equal(await scalar(client, `SELECT encode(tenant_hk, 'hex') FROM auth.tenant_h WHERE tenant_bk = 'SYSTEM_OPERATIONS'`), SYSTEM_TENANT_HK_HEX);
      assert.equal(await scalar(client, `SELECT encode(role_hk, 'hex') FROM auth.role_h WHERE role_bk = 'SYSTEM_OPERATIONS_ADMIN'`), SYSTEM_ROLE_HK_HEX);
      assert.equal(await scalar(client, `SELECT encode(sha256('SYSTEM_OPERATIONS_ADMIN'::bytea), 'hex')`), SYSTEM_ROLE_HK_HEX);
      assert.equal(await scalar(client, `SELECT encode(tenant_hk, 'hex') FROM auth.role_h WHERE role_bk = 'SYSTEM_OPERATIONS_ADMIN'`), SYSTEM_TENANT_HK_HEX);

      const profile = await client.query(
        `SELECT tenant_name, tenant_type, tenant_status, max_users, compliance_frameworks, is_active
         FROM auth.tenant_profile_s WHERE tenant_hk = util.get_system_operations_tenant_hk() AND load_end_date IS NULL`,
      );
      assert.equal(profile.rowCount, 1);
      assert.equal(profile.rows[0].tenant_name, 'System Operations Tenant');
      assert.equal(profile.rows[0].tenant_type, 'SYSTEM');
      assert.equal(profile.rows[0].tenant_status, 'ACTIVE');
      assert.equal(profile.rows[0].max_users, 999);
      assert.ok(profile.rows[0].compliance_frameworks.length > 0, 'compliance frameworks are empty');
      assert.equal(profile.rows[0].is_active, true);

      const role = await client.query(
        `SELECT role_name, role_type, is_system_role, permissions FROM auth.role_profile_s
         WHERE role_hk = decode($1, 'hex') AND load_end_date IS NULL`,
        [SYSTEM_ROLE_HK_HEX],
      );
      assert.equal(role.rowCount, 1);
      assert.equal(role.rows[0].role_name, 'System Operations Administrator');
      assert.equal(role.rows[0].role_type, 'SYSTEM');
      assert.equal(role.rows[0].is_system_role, true);
      assert.deepEqual([...role.rows[0].permissions].sort(), [...SIX_PERMISSIONS].sort());

      const indexes = await client.query(
        `SELECT indexrelid::regclass::text AS name, indrelid::regclass::text AS table_name, indisvalid
         FROM pg_index WHERE indexrelid::regclass::text IN ('auth.idx_tenant_h_system_lookup', 'auth.idx_tenant_profile_s_system_active') ORDER BY 1`,
      );
      assert.deepEqual(indexes.rows, [
        { name: 'auth.idx_tenant_h_system_lookup', table_name: 'auth.tenant_h', indisvalid: true },
        { name: 'auth.idx_tenant_profile_s_system_active', table_name: 'auth.tenant_profile_s', indisvalid: true },
      ]);

      assert.equal(await scalar(client, `SELECT provolatile FROM pg_proc WHERE oid = 'util.get_system_operations_tenant_hk()'::regprocedure`), 'i');
    });
  });

  it('records a SUCCESS run with checksum', async () => {
    await withFreshDatabase(async (client) => {
      await deployAll(client, 'V001');
      const migration = await v001();
      const run = await client.query(`SELECT status, direction, executed_via, checksum, finished_at >= started_at AS ordered FROM util.migration_log WHERE version = 'V001'`);
      assert.equal(run.rowCount, 1);
      assert.deepEqual(run.rows[0], { status: 'SUCCESS', direction: 'FORWARD', executed_via: 'onevault', checksum: migration.forward.checksum, ordered: true });
    });
  });
});

describe('V001 idempotency', () => {
  it('second deploy and direct run change nothing', async () => {
    await withFreshDatabase(async (client) => {
      await deployAll(client, 'V001');
      const before = await platformFingerprint(client);

      const report = await deploy(client, { migrationsDir: MIGRATIONS_DIR, reapply: true, to: 'V001' });
      assert.equal(report.error, undefined);
      assert.equal(fingerprintChanges(before, await platformFingerprint(client)), '');

      await runMigrationFile(client, await v001(), 'FORWARD', { mode: 'psql' });
      assert.equal(fingerprintChanges(before, await platformFingerprint(client)), '');
    });
  });

  it('re-run prints already exists lines', async () => {
    await withFreshDatabase(async (client) => {
      await deployAll(client, 'V001');
      const result = await runMigrationFile(client, await v001(), 'FORWARD');
      const already = result.notices.filter((line) => /already exist/i.test(line));
      assert.ok(already.length >= 5, `expected an "already exists" line per object, got:\n${result.notices.join('\n')}`);
      assert.ok(!result.notices.some((line) => line.startsWith('✅ Created')), 'a re-run must not claim to create');
    });
  });

  it('re-run repairs a half-created tenant', async () => {
    await withFreshDatabase(async (client) => {
      await deployAll(client, 'V001');
      const before = await platformFingerprint(client);

      await client.query(`DELETE FROM auth.tenant_profile_s WHERE tenant_hk = util.get_system_operations_tenant_hk()`);
      await client.query(`DELETE FROM auth.role_profile_s WHERE role_hk = decode($1, 'hex')`, [SYSTEM_ROLE_HK_HEX]);
      await client.query(`DROP INDEX auth.idx_tenant_profile_s_system_active`);

      await runMigrationFile(client, await v001(), 'FORWARD');
      assert.equal(fingerprintChanges(before, await platformFingerprint(client)), '');
    });
  });

  it('re-run writes a new profile version when values differ', async () => {
    await withFreshDatabase(async (client) => {
      await deployAll(client, 'V001');
      await client.query(`UPDATE auth.tenant_profile_s SET max_users = 5 WHERE tenant_hk = util.get_system_operations_tenant_hk()`);

      await runMigrationFile(client, await v001(), 'FORWARD');
      const versions = await client.query(
        `SELECT max_users, load_end_date IS NULL AS current FROM auth.tenant_profile_s
         WHERE tenant_hk = util.get_system_operations_tenant_hk() ORDER BY load_date`,
      );
      assert.deepEqual(versions.rows, [
        { max_users: 5, current: false },
        { max_users: 999, current: true },
      ]);

      await runMigrationFile(client, await v001(), 'FORWARD');
      assert.equal(await scalar(client, `SELECT count(*)::int FROM auth.tenant_profile_s WHERE tenant_hk = util.get_system_operations_tenant_hk()`), 2);
    });
  });
});

describe('V001 under psql without ON_ERROR_STOP', () => {
  it('missing prerequisites change nothing', async () => {
    await withFreshDatabase(async (client, url) => {
      await deployAll(client, 'V000');
      await client.query('DROP FUNCTION util.current_load_date()');
      await client.query('DROP TABLE auth.role_profile_s');
      const before = await platformFingerprint(client);

      const migration = await v001();
      const result = await runPsqlFile(url, migration.forward.path);
      const output = result.stdout + result.stderr;

      assert.equal(fingerprintChanges(before, await platformFingerprint(client)), '');
      const errorLines = output.split('\n').filter((line) => /ERROR:/.test(line) && /current_load_date/.test(line) && /role_profile_s/.test(line));
      assert.equal(errorLines.length, 1, `one error should name every missing item:\n${output}`);
      assert.doesNotMatch(output, /completed successfully/);
      assert.equal(await scalar(client, `SELECT count(*)::int FROM util.migration_log WHERE version = 'V001'`), 0);
    });
  });

  it('psql deploy matches tool deploy', async () => {
    let viaTool: Awaited<ReturnType<typeof platformFingerprint>> | undefined;
    await withFreshDatabase(async (client) => {
      await deployAll(client, 'V001');
      viaTool = await platformFingerprint(client);
    });
    await withFreshDatabase(async (client, url) => {
      for (const migration of (await loadMigrations(MIGRATIONS_DIR)).filter((candidate) => candidate.number <= 1)) {
        const result = await runPsqlFile(url, migration.forward.path);
        assert.doesNotMatch(result.stderr, /ERROR/, `${migration.forward.fileName} failed under psql:\n${result.stderr}`);
      }
      assert.ok(viaTool);
      assert.equal(fingerprintChanges(viaTool, await platformFingerprint(client)), '');
      assert.equal(await scalar(client, `SELECT count(*)::int FROM util.migration_log WHERE executed_via = 'psql' AND status = 'SUCCESS'`), 2);
    });
  });
});

describe('V001 rollback', () => {
  it('removes every object and backs up rows', async () => {
    await withFreshDatabase(async (client) => {
      await deployAll(client, 'V000');
      const beforeV001 = await platformFingerprint(client);
      await deployAll(client, 'V001');
      const deployed = await platformFingerprint(client);

      const report = await rollback(client, { migrationsDir: MIGRATIONS_DIR });
      assert.equal(report.error, undefined);
      assert.equal(await v001ObjectCount(client), 0);
      assert.equal(fingerprintChanges(beforeV001, await platformFingerprint(client)), '');

      const backups = await client.query(`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'onevault\\_backup\\_%'`);
      assert.equal(backups.rowCount, 1);
      const backup = backups.rows[0].nspname as string;
      assert.equal(await scalar(client, `SELECT count(*)::int FROM ${backup}.auth_tenant_h`), 1);
      assert.equal(await scalar(client, `SELECT count(*)::int FROM ${backup}.auth_role_profile_s`), 1);

      // The printed restore statements put every row back.
      const notices = report.outcomes[0].notices ?? [];
      const restore = notices.filter((line) => /^\s*INSERT INTO /.test(line)).map((line) => line.trim());
      assert.ok(restore.length >= 4, `expected restore statements, got:\n${notices.join('\n')}`);
      for (const statement of restore) await client.query(statement);
      await runMigrationFile(client, await v001(), 'FORWARD');
      assert.equal(fingerprintChanges(deployed, await platformFingerprint(client)), '');
    });
  });

  it('second rollback changes nothing', async () => {
    await withFreshDatabase(async (client) => {
      await deployAll(client, 'V001');
      const migration = await v001();
      await runMigrationFile(client, migration, 'ROLLBACK');
      const afterFirst = await platformFingerprint(client);
      const schemasBefore = await scalar<number>(client, `SELECT count(*)::int FROM pg_namespace`);

      await runMigrationFile(client, migration, 'ROLLBACK');
      assert.equal(fingerprintChanges(afterFirst, await platformFingerprint(client)), '');
      assert.equal(await scalar<number>(client, `SELECT count(*)::int FROM pg_namespace`), schemasBefore);
    });
  });

  it('redeploy after rollback succeeds', async () => {
    await withFreshDatabase(async (client) => {
      await deployAll(client, 'V001');
      const deployed = await platformFingerprint(client);
      assert.equal((await rollback(client, { migrationsDir: MIGRATIONS_DIR })).error, undefined);

      const report = await deploy(client, { migrationsDir: MIGRATIONS_DIR, to: 'V001' });
      assert.equal(report.error, undefined);
      assert.deepEqual(report.outcomes.map((outcome) => outcome.status), ['applied']);
      assert.equal(fingerprintChanges(deployed, await platformFingerprint(client)), '');
    });
  });

  it('refuses with a dependent user', async () => {
    await withFreshDatabase(async (client) => {
      await deployAll(client, 'V001');
      await client.query(
        `INSERT INTO auth.user_h (user_hk, user_bk, tenant_hk, load_date, record_source)
         VALUES (util.hash_binary('ops-user'), 'ops-user', util.get_system_operations_tenant_hk(), util.current_load_date(), 'test')`,
      );
      const before = await platformFingerprint(client);

      const refused = await rollback(client, { migrationsDir: MIGRATIONS_DIR });
      const error = rollbackError(refused);
      assert.equal(error.code, 'ROLLBACK_BLOCKED');
      assert.match(error.message, /user_h/);
      assert.equal(fingerprintChanges(before, await platformFingerprint(client)), '');
      assert.equal(await scalar(client, `SELECT count(*)::int FROM pg_namespace WHERE nspname LIKE 'onevault\\_backup\\_%'`), 0);
      assert.equal(await scalar(client, `SELECT status FROM util.migration_log WHERE direction = 'ROLLBACK' ORDER BY migration_log_id DESC LIMIT 1`), 'FAILED');

      const forced = await rollback(client, { migrationsDir: MIGRATIONS_DIR, force: true });
      assert.equal(forced.error, undefined);
      assert.equal(await v001ObjectCount(client), 0);
      assert.equal(await scalar(client, `SELECT count(*)::int FROM auth.user_h`), 0);
      const backup = await scalar<string>(client, `SELECT nspname FROM pg_namespace WHERE nspname LIKE 'onevault\\_backup\\_%'`);
      assert.equal(await scalar(client, `SELECT count(*)::int FROM ${backup}.auth_user_h`), 1);
    });
  });

  it('psql rollback with PGOPTIONS force', async () => {
    await withFreshDatabase(async (client, url) => {
      await deployAll(client, 'V001');
      await client.query(
        `INSERT INTO auth.user_h (user_hk, user_bk, tenant_hk, load_date, record_source)
         VALUES (util.hash_binary('ops-user'), 'ops-user', util.get_system_operations_tenant_hk(), util.current_load_date(), 'test')`,
      );
      const migration = await v001();

      const refused = await runPsqlFile(url, migration.rollback.path);
      assert.match(refused.stderr, /ERROR:.*(refus|reject)/i);
      assert.equal(await v001ObjectCount(client), 5);

      const forced = await runPsqlFile(url, migration.rollback.path, { PGOPTIONS: '-c onevault.force_rollback=on' });
      assert.doesNotMatch(forced.stderr, /ERROR/);
      assert.equal(await v001ObjectCount(client), 0);
    });
  });
});

describe('failed migration record', () => {
  it('FAILED row survives the rollback', async () => {
    await withFreshDatabase(async (client) => {
      await deployAll(client, 'V000');
      const folder = await fs.mkdtemp(path.join(os.tmpdir(), 'onevault-failing-'));
      try {
        for (const name of ['V000__create_platform_foundation.sql', 'V000__rollback_platform_foundation.sql']) {
          await fs.copyFile(path.join(MIGRATIONS_DIR, name), path.join(folder, name));
        }
        await fs.writeFile(path.join(folder, 'V001__create_broken.sql'), 'BEGIN;\nCREATE TABLE util.half_done (id int);\nSELECT no_such_column FROM util.half_done;\nCOMMIT;\n');
        await fs.writeFile(path.join(folder, 'V001__rollback_broken.sql'), 'BEGIN;\nDROP TABLE IF EXISTS util.half_done;\nCOMMIT;\n');

        const report = await deploy(client, { migrationsDir: folder });
        assert.equal(report.error?.code, 'MIGRATION_FAILED');
        assert.match(report.error?.message ?? '', /failed at line 3, column 8: column "no_such_column" does not exist/);
        assert.equal(await scalar(client, `SELECT to_regclass('util.half_done') IS NULL`), true);
        const failed = await client.query(`SELECT status, error_message, error_detail->>'sqlstate' AS sqlstate FROM util.migration_log WHERE version = 'V001'`);
        assert.equal(failed.rowCount, 1);
        assert.equal(failed.rows[0].status, 'FAILED');
        assert.equal(failed.rows[0].sqlstate, '42703');
        assert.match(failed.rows[0].error_message, /no_such_column/);
      } finally {
        await fs.rm(folder, { recursive: true, force: true });
      }
    });
  });
});
