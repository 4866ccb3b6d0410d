import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';

import type { DeploymentTestEvent } from '../../src/deployment-tests/check-result';
import { OnevaultError } from '../../src/errors';
import { MIGRATIONS_DIR } from '../helpers/cli';
import { DeployedTemplate, openSession } from './deployed-template';
import { assertStatus, runSuite } from './suite-helpers';

const V001_ROLLBACK = 'V001__rollback_system_operations_tenant.sql';

/** Copies V000 and V001 of the repository into a new folder, with V001's rollback replaced when `rollbackSql` is given. */
async function migrationsFolder(parent: string, label: string, files: { readonly rollbackSql?: string; readonly extra?: Readonly<Record<string, string>> } = {}): Promise<string> {
  const folder = path.join(parent, label);
  await fs.mkdir(folder);
  for (const name of ['V000__create_platform_foundation.sql', 'V000__rollback_platform_foundation.sql', 'V001__create_system_operations_tenant.sql', V001_ROLLBACK]) {
    await fs.copyFile(path.join(MIGRATIONS_DIR, name), path.join(folder, name));
  }
  if (files.rollbackSql !== undefined) await fs.writeFile(path.join(folder, V001_ROLLBACK), files.rollbackSql);
  for (const [name, sql] of Object.entries(files.extra ?? {})) await fs.writeFile(path.join(folder, name), sql);
  return folder;
}

const RECORD_V001_ROLLBACK = `SELECT util.record_migration_run('V001', 'system_operations_tenant', 'ROLLBACK', '{}'::jsonb);`;

/** A V002 that adds a row and a new index on every run: the kind of migration the idempotency checks exist for. */
const NON_IDEMPOTENT_V002 = `BEGIN;
CREATE TABLE IF NOT EXISTS util.run_counter (run_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, note text NOT NULL);
INSERT INTO util.run_counter (note) VALUES ('run ' || pg_catalog.md5(pg_catalog.random()::text));
DO $$ BEGIN EXECUTE pg_catalog.format('CREATE INDEX %I ON util.run_counter (note)', 'idx_run_counter_' || pg_catalog.substr(pg_catalog.md5(pg_catalog.random()::text), 1, 8)); END $$;
SELECT util.record_migration_run('V002', 'counter', 'FORWARD', '{}'::jsonb);
COMMIT;
`;
const V002_ROLLBACK = `BEGIN;
DROP TABLE IF EXISTS util.run_counter;
SELECT util.record_migration_run('V002', 'counter', 'ROLLBACK', '{}'::jsonb);
COMMIT;
`;

describe('scratch-copy checks', () => {
  let workDir: string;
  let baseFolder: string;
  let template: DeployedTemplate;
  before(async () => {
    workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'onevault-dt-'));
    baseFolder = await migrationsFolder(workDir, 'base');
    template = await DeployedTemplate.create('dt_scratch', baseFolder);
  });
  after(async () => {
    await template?.drop();
    if (workDir) await fs.rm(workDir, { recursive: true, force: true });
  });

  test('deployed database passes scratch checks', async () => {
    await template.withBrokenCopy(
      'dt_scratch_ok',
      async () => undefined,
      async (url, database) => {
        const events: DeploymentTestEvent[] = [];
        const report = await runSuite(url, { migrationsDir: baseFolder, groups: ['idempotency', 'rollback readiness'] }, events);
        for (const check of report.checks) assert.equal(check.status, 'PASSED', `${check.name}: ${check.details}`);
        assert.equal(report.checks.length, 7);

        const created = events.filter((event) => event.type === 'scratch-created');
        const dropped = events.filter((event) => event.type === 'scratch-dropped');
        assert.equal(created.length, 2);
        assert.deepEqual(
          dropped.map((event) => event.database),
          created.map((event) => event.database),
        );
        for (const event of created) {
          assert.ok(event.database.startsWith(`${database}_scratch_`), event.database);
          assert.equal(event.method, 'template');
        }
      },
    );
  });

  test('conflicting tenant row fails the rerun', async () => {
    await template.withBrokenCopy(
      'dt_rerun',
      (client) => client.query(`UPDATE auth.tenant_h SET tenant_bk = 'SYSTEM_OPS' WHERE tenant_bk = 'SYSTEM_OPERATIONS'`).then(() => undefined),
      async (url) => {
        const report = await runSuite(url, { migrationsDir: baseFolder, groups: ['idempotency'] });
        assert.match(assertStatus(report, 'applied migrations run again without error', 'FAILED').details, /cannot create the System Operations tenant/);
        assertStatus(report, 'second run leaves the catalog unchanged', 'FAILED');
        assertStatus(report, 'second run leaves the rows unchanged', 'FAILED');
      },
    );
  });

  test('dropped index fails the catalog comparison', async () => {
    await template.withBrokenCopy(
      'dt_catalog',
      (client) => client.query('DROP INDEX auth.idx_tenant_h_system_lookup').then(() => undefined),
      async (url) => {
        const report = await runSuite(url, { migrationsDir: baseFolder, groups: ['idempotency'] });
        assertStatus(report, 'applied migrations run again without error', 'PASSED');
        assert.match(assertStatus(report, 'second run leaves the catalog unchanged', 'FAILED').details, /\+ index auth\.idx_tenant_h_system_lookup/);
      },
    );
  });

  test('changed profile fails the rows comparison', async () => {
    await template.withBrokenCopy(
      'dt_rows',
      (client) => client.query(`UPDATE auth.tenant_profile_s SET max_users = 10 WHERE load_end_date IS NULL`).then(() => undefined),
      async (url) => {
        const report = await runSuite(url, { migrationsDir: baseFolder, groups: ['idempotency'] });
        assertStatus(report, 'second run leaves the catalog unchanged', 'PASSED');
        assert.match(assertStatus(report, 'second run leaves the rows unchanged', 'FAILED').details, /table auth\.tenant_profile_s rows: 1 → 2/);
      },
    );
  });

  test('non-idempotent migration fails both comparisons', async () => {
    const folder = await migrationsFolder(workDir, 'non-idempotent', { extra: { 'V002__create_counter.sql': NON_IDEMPOTENT_V002, 'V002__rollback_counter.sql': V002_ROLLBACK } });
    const counterTemplate = await DeployedTemplate.create('dt_counter', folder);
    try {
      await counterTemplate.withBrokenCopy(
        'dt_counter_copy',
        async () => undefined,
        async (url) => {
          const report = await runSuite(url, { migrationsDir: folder, groups: ['idempotency'] });
          assertStatus(report, 'applied migrations run again without error', 'PASSED');
          assert.match(assertStatus(report, 'second run leaves the catalog unchanged', 'FAILED').details, /\+ index util\.idx_run_counter_/);
          assert.match(assertStatus(report, 'second run leaves the rows unchanged', 'FAILED').details, /table util\.run_counter rows: 1 → 2/);
        },
      );
    } finally {
      await counterTemplate.drop();
    }
  });

  test('failing rollback fails readiness', async () => {
    const folder = await migrationsFolder(workDir, 'failing-rollback', { rollbackSql: 'BEGIN;\nSELECT 1 / 0;\nCOMMIT;\n' });
    await template.withBrokenCopy(
      'dt_rb_fail',
      async () => undefined,
      async (url) => {
        const report = await runSuite(url, { migrationsDir: folder, groups: ['rollback readiness'] });
        assert.match(assertStatus(report, 'V001 rollback succeeds', 'FAILED').details, /division by zero/);
        for (const name of ['rollback removes every V001 object', 'removed rows are backed up', 'redeploy restores the state']) {
          assert.match(assertStatus(report, name, 'FAILED').details, /the rollback failed/);
        }
      },
    );
  });

  test('incomplete rollback leaves objects behind', async () => {
    const folder = await migrationsFolder(workDir, 'incomplete-rollback', {
      rollbackSql: `BEGIN;\nDROP FUNCTION util.get_system_operations_tenant_hk();\n${RECORD_V001_ROLLBACK}\nCOMMIT;\n`,
    });
    await template.withBrokenCopy(
      'dt_rb_left',
      async () => undefined,
      async (url) => {
        const report = await runSuite(url, { migrationsDir: folder, groups: ['rollback readiness'] });
        assertStatus(report, 'V001 rollback succeeds', 'PASSED');
        const leftovers = assertStatus(report, 'rollback removes every V001 object', 'FAILED').found;
        assert.match(leftovers, /1 rows in auth\.tenant_h/);
        assert.match(leftovers, /index auth\.idx_tenant_h_system_lookup/);
        assert.doesNotMatch(leftovers, /function/);
      },
    );
  });

  test('rollback without backup fails', async () => {
    const folder = await migrationsFolder(workDir, 'partial-backup', {
      rollbackSql: `BEGIN;
CREATE SCHEMA onevault_backup_v001_test;
CREATE TABLE onevault_backup_v001_test.auth_tenant_h AS SELECT * FROM auth.tenant_h WHERE tenant_bk = 'SYSTEM_OPERATIONS';
DROP INDEX auth.idx_tenant_h_system_lookup;
DROP INDEX auth.idx_tenant_profile_s_system_active;
DROP FUNCTION util.get_system_operations_tenant_hk();
DELETE FROM auth.role_profile_s WHERE role_hk = util.hash_binary('SYSTEM_OPERATIONS_ADMIN');
DELETE FROM auth.role_h WHERE role_hk = util.hash_binary('SYSTEM_OPERATIONS_ADMIN');
DELETE FROM auth.tenant_profile_s WHERE tenant_hk = decode(repeat('00', 31) || '01', 'hex');
DELETE FROM auth.tenant_h WHERE tenant_bk = 'SYSTEM_OPERATIONS';
${RECORD_V001_ROLLBACK}
COMMIT;
`,
    });
    await template.withBrokenCopy(
      'dt_rb_backup',
      async () => undefined,
      async (url) => {
        const report = await runSuite(url, { migrationsDir: folder, groups: ['rollback readiness'] });
        assertStatus(report, 'rollback removes every V001 object', 'PASSED');
        const details = assertStatus(report, 'removed rows are backed up', 'FAILED').details;
        assert.match(details, /onevault_backup_v001_test\.auth_tenant_profile_s is missing/);
        assert.match(details, /onevault_backup_v001_test\.auth_role_profile_s is missing/);
        assert.doesNotMatch(details, /auth_tenant_h is missing/);
        assertStatus(report, 'redeploy restores the state', 'PASSED');
      },
    );
  });

  test('over-eager rollback fails the redeploy comparison', async () => {
    const realRollback = await fs.readFile(path.join(MIGRATIONS_DIR, V001_ROLLBACK), 'utf8');
    const lastCommit = realRollback.lastIndexOf('COMMIT;');
    const overEager = `${realRollback.slice(0, lastCommit)}DROP INDEX auth.uq_role_profile_s_current;\n${realRollback.slice(lastCommit)}`;
    const folder = await migrationsFolder(workDir, 'over-eager-rollback', { rollbackSql: overEager });
    await template.withBrokenCopy(
      'dt_rb_eager',
      async () => undefined,
      async (url) => {
        const report = await runSuite(url, { migrationsDir: folder, groups: ['rollback readiness'] });
        assertStatus(report, 'V001 rollback succeeds', 'PASSED');
        assertStatus(report, 'removed rows are backed up', 'PASSED');
        assert.match(assertStatus(report, 'redeploy restores the state', 'FAILED').details, /- index auth\.uq_role_profile_s_current/);
      },
    );
  });

  test('dependent rows need a forced rollback', async () => {
    await template.withBrokenCopy(
      'dt_rb_force',
      async (client) => {
        await client.query(
          `INSERT INTO auth.user_h (user_hk, user_bk, tenant_hk, load_date, record_source)
           VALUES (util.hash_binary('OPS_USER'), 'OPS_USER', util.get_system_operations_tenant_hk(), now(), 'test')`,
        );
      },
      async (url) => {
        const report = await runSuite(url, { migrationsDir: baseFolder, groups: ['rollback readiness'] });
        const details = assertStatus(report, 'V001 rollback succeeds', 'PASSED').details;
        assert.match(details, /with force/);
        assert.match(details, /plain rollback was rejected/);
        assertStatus(report, 'rollback removes every V001 object', 'PASSED');
        assertStatus(report, 'removed rows are backed up', 'PASSED');
      },
    );
  });

  test('busy target is copied by dump', async () => {
    await template.withBrokenCopy(
      'dt_busy',
      async () => undefined,
      async (url) => {
        const other = await openSession(url);
        try {
          const events: DeploymentTestEvent[] = [];
          const report = await runSuite(url, { migrationsDir: baseFolder, groups: ['idempotency'] }, events);
          for (const check of report.checks) assert.equal(check.status, 'PASSED', `${check.name}: ${check.details}`);
          const created = events.find((event) => event.type === 'scratch-created');
          assert.equal(created?.type === 'scratch-created' ? created.method : undefined, 'dump and restore');
        } finally {
          await other.end();
        }
      },
    );
  });

  test('busy target without pg_dump is skipped', async () => {
    await template.withBrokenCopy(
      'dt_nodump',
      async () => undefined,
      async (url) => {
        const other = await openSession(url);
        try {
          const empty = path.join(workDir, 'no-tools');
          await fs.mkdir(empty, { recursive: true });
          const report = await runSuite(url, { migrationsDir: baseFolder, groups: ['idempotency', 'rollback readiness'], findTool: { versionedRoot: empty, searchPath: [empty] } });
          assert.equal(report.checks.length, 7);
          for (const check of report.checks) {
            assert.equal(check.status, 'SKIPPED', check.name);
            assert.match(check.details, /other sessions use .*postgresql-client-\d+/);
          }
          assert.equal(report.summary.overallStatus, 'PASSED');
          assert.equal(report.summary.successRate, 0);
        } finally {
          await other.end();
        }
      },
    );
  });

  test('abort drops the scratch copy', async () => {
    await template.withBrokenCopy(
      'dt_abort',
      async () => undefined,
      async (url) => {
        const controller = new AbortController();
        const events: DeploymentTestEvent[] = [];
        const running = runSuite(
          url,
          {
            migrationsDir: baseFolder,
            groups: ['rollback readiness'],
            signal: controller.signal,
            onEvent: (event) => {
              events.push(event);
              if (event.type === 'scratch-created') controller.abort();
            },
          },
          events,
        );
        await assert.rejects(running, (error: unknown) => {
          assert.ok(error instanceof OnevaultError);
          assert.equal(error.code, 'INTERRUPTED');
          return true;
        });
        assert.ok(events.some((event) => event.type === 'scratch-dropped'));
      },
    );
  });
});
