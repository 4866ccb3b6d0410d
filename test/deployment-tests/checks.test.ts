import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Client } from 'pg';

import type { CheckGroupName, CheckOutcome, CheckStatus, SuiteContext } from '../../src/deployment-tests/check-result';
import { prerequisiteChecks } from '../../src/deployment-tests/prerequisites';
import { loadMigrations } from '../../src/migrations/catalog';
import { MIGRATIONS_DIR } from '../helpers/cli';
import { DeployedTemplate } from './deployed-template';
import { assertStatus, insertTenant, runSuite } from './suite-helpers';

interface Breakage {
  readonly check: string;
  readonly group: CheckGroupName;
  /** Damages the copy the way a real fault would. */
  readonly breakIt: (client: Client) => Promise<void>;
  /** Pattern the check's details must match, naming the value found. */
  readonly found: RegExp;
  readonly status?: CheckStatus;
}

const SYSTEM_TENANT = `tenant_hk = util.get_system_operations_tenant_hk()`;
const SYSTEM_ROLE = `role_hk = util.hash_binary('SYSTEM_OPERATIONS_ADMIN')`;

/** Leaves an invalid index under `name`, as a CREATE UNIQUE INDEX CONCURRENTLY that fails on duplicates does. */
async function leaveInvalidIndex(client: Client, name: string, table: string): Promise<void> {
  await client.query(`DROP INDEX auth.${name}`);
  await insertTenant(client, 'ACME', 'BUSINESS');
  await assert.rejects(client.query(`CREATE UNIQUE INDEX CONCURRENTLY ${name} ON ${table} (record_source)`));
}

const BREAKAGES: readonly Breakage[] = [
  { check: 'platform schemas exist', group: 'prerequisites', breakIt: (c) => q(c, 'DROP SCHEMA staging CASCADE'), found: /missing \[staging\]/ },
  { check: 'platform tables exist', group: 'prerequisites', breakIt: (c) => q(c, 'DROP TABLE staging.tenant_registration_s CASCADE'), found: /missing \[staging\.tenant_registration_s\]/ },
  { check: 'platform functions exist', group: 'prerequisites', breakIt: (c) => q(c, 'DROP FUNCTION util.get_record_source() CASCADE'), found: /missing \[util\.get_record_source\(\)\]/ },
  { check: 'pgcrypto is installed', group: 'prerequisites', breakIt: (c) => q(c, 'DROP EXTENSION pgcrypto CASCADE'), found: /found: not installed/ },

  { check: 'every migration is applied', group: 'migration log', breakIt: (c) => q(c, `DELETE FROM util.migration_log WHERE version = 'V001'`), found: /not applied \[V001\]/ },
  { check: 'applied files match their checksums', group: 'migration log', breakIt: (c) => q(c, `UPDATE util.migration_log SET checksum = repeat('0', 64) WHERE version = 'V001'`), found: /changed after they were applied: V001 recorded 000000000000/ },
  {
    check: 'no run is left RUNNING',
    group: 'migration log',
    breakIt: (c) => q(c, `INSERT INTO util.migration_log (run_id, version, name, direction, status, started_at, executed_via) VALUES (gen_random_uuid(), 'V001', 'system_operations_tenant', 'FORWARD', 'RUNNING', now(), 'psql')`),
    found: /1 RUNNING: FORWARD V001/,
  },

  { check: 'tenant hub has the fixed key', group: 'system tenant', breakIt: (c) => q(c, `UPDATE auth.tenant_h SET tenant_bk = 'SYSTEM_OPS' WHERE ${SYSTEM_TENANT}`), found: /found: \[SYSTEM_OPS 0{63}1\]/ },
  { check: 'exactly one current profile', group: 'system tenant', breakIt: (c) => q(c, `DELETE FROM auth.tenant_profile_s WHERE ${SYSTEM_TENANT}`), found: /found: 0 current profiles/ },
  { check: 'profile name', group: 'system tenant', breakIt: (c) => q(c, `UPDATE auth.tenant_profile_s SET tenant_name = 'Ops' WHERE ${SYSTEM_TENANT}`), found: /found: Ops;/ },
  { check: 'profile type is SYSTEM', group: 'system tenant', breakIt: (c) => q(c, `UPDATE auth.tenant_profile_s SET tenant_type = 'BUSINESS' WHERE ${SYSTEM_TENANT}`), found: /found: BUSINESS;/ },
  { check: 'profile status is ACTIVE', group: 'system tenant', breakIt: (c) => q(c, `UPDATE auth.tenant_profile_s SET tenant_status = 'SUSPENDED' WHERE ${SYSTEM_TENANT}`), found: /found: SUSPENDED, is_active true/ },
  { check: 'profile allows 999 users', group: 'system tenant', breakIt: (c) => q(c, `UPDATE auth.tenant_profile_s SET max_users = 10 WHERE ${SYSTEM_TENANT}`), found: /found: 10;/ },
  { check: 'compliance frameworks are set', group: 'system tenant', breakIt: (c) => q(c, `UPDATE auth.tenant_profile_s SET compliance_frameworks = '{}' WHERE ${SYSTEM_TENANT}`), found: /found: none;/ },

  { check: 'role hub belongs to the system tenant', group: 'system role', breakIt: (c) => q(c, `UPDATE auth.role_h SET role_bk = 'ADMIN' WHERE ${SYSTEM_ROLE}`), found: /found: \[ADMIN of tenant 0{63}1\]/ },
  { check: 'exactly one current role profile', group: 'system role', breakIt: (c) => q(c, `DELETE FROM auth.role_profile_s WHERE ${SYSTEM_ROLE}`), found: /found: 0 current profiles/ },
  { check: 'role is a SYSTEM role', group: 'system role', breakIt: (c) => q(c, `UPDATE auth.role_profile_s SET role_type = 'TENANT' WHERE ${SYSTEM_ROLE}`), found: /type TENANT;/ },
  { check: 'role has the system flag', group: 'system role', breakIt: (c) => q(c, `UPDATE auth.role_profile_s SET is_system_role = false WHERE ${SYSTEM_ROLE}`), found: /found: is_system_role false/ },
  {
    check: 'role has all six permissions',
    group: 'system role',
    breakIt: (c) => q(c, `UPDATE auth.role_profile_s SET permissions = array_remove(permissions, 'BACKUP_MANAGEMENT') WHERE ${SYSTEM_ROLE}`),
    found: /found: \[DATA_MIGRATION, PRE_REGISTRATION_MANAGEMENT, SYSTEM_ADMIN, SYSTEM_MONITORING, TENANT_REGISTRATION\]/,
  },

  { check: 'function exists and returns bytea', group: 'utility function', breakIt: (c) => q(c, 'DROP FUNCTION util.get_system_operations_tenant_hk() CASCADE'), found: /found: missing/ },
  {
    check: 'function returns the tenant key',
    group: 'utility function',
    breakIt: (c) => q(c, `CREATE OR REPLACE FUNCTION util.get_system_operations_tenant_hk() RETURNS bytea LANGUAGE sql IMMUTABLE AS $$ SELECT decode(repeat('00', 32), 'hex') $$`),
    found: /found: 0{64};/,
  },
  { check: 'function is immutable', group: 'utility function', breakIt: (c) => q(c, 'ALTER FUNCTION util.get_system_operations_tenant_hk() VOLATILE'), found: /found: VOLATILE/ },

  { check: 'idx_tenant_h_system_lookup is on auth.tenant_h', group: 'indexes', breakIt: (c) => q(c, 'DROP INDEX auth.idx_tenant_h_system_lookup'), found: /found: missing/ },
  { check: 'idx_tenant_h_system_lookup is valid', group: 'indexes', breakIt: (c) => leaveInvalidIndex(c, 'idx_tenant_h_system_lookup', 'auth.tenant_h'), found: /found: indisvalid false/ },
  {
    check: 'idx_tenant_profile_s_system_active is on auth.tenant_profile_s',
    group: 'indexes',
    breakIt: async (c) => {
      await q(c, 'DROP INDEX auth.idx_tenant_profile_s_system_active');
      await q(c, 'CREATE INDEX idx_tenant_profile_s_system_active ON auth.role_profile_s (role_hk)');
    },
    found: /found: index on auth\.role_profile_s/,
  },
  { check: 'idx_tenant_profile_s_system_active is valid', group: 'indexes', breakIt: (c) => leaveInvalidIndex(c, 'idx_tenant_profile_s_system_active', 'auth.tenant_profile_s'), found: /found: indisvalid false/ },

  { check: 'exactly one system tenant', group: 'security', breakIt: (c) => insertTenant(c, 'SECOND_SYSTEM', 'SYSTEM'), found: /SECOND_SYSTEM/ },
  { check: 'function grants only to application roles', group: 'security', breakIt: (c) => q(c, 'GRANT EXECUTE ON FUNCTION util.get_system_operations_tenant_hk() TO PUBLIC'), found: /EXECUTE to PUBLIC/ },
  { check: 'no grants on tenant and role tables', group: 'security', breakIt: (c) => q(c, 'GRANT SELECT ON auth.tenant_profile_s TO PUBLIC'), found: /PUBLIC on auth\.tenant_profile_s/ },
  { check: 'no table grants to PUBLIC or application roles', group: 'security', breakIt: (c) => q(c, 'GRANT SELECT ON auth.user_auth_s TO PUBLIC'), found: /found: grants: \[SELECT to PUBLIC on auth\.user_auth_s\]/ },
  {
    check: 'security definer functions pin search_path',
    group: 'security',
    breakIt: (c) => q(c, `CREATE FUNCTION util.unsafe_lookup() RETURNS integer LANGUAGE sql SECURITY DEFINER AS $$ SELECT 1 $$`),
    found: /without SET search_path: \[util\.unsafe_lookup\(\)\]/,
  },
  {
    check: 'no api function executable by PUBLIC',
    group: 'security',
    breakIt: (c) => q(c, `CREATE FUNCTION api.open_ping() RETURNS text LANGUAGE sql AS $$ SELECT 'pong' $$`),
    found: /executable by PUBLIC: \[api\.open_ping\(\)\]/,
  },
  {
    check: 'tenant policies match V002',
    group: 'security',
    breakIt: (c) => q(c, 'ALTER POLICY onevault_tenant_isolation ON auth.user_auth_s USING (true)'),
    found: /auth\.user_auth_s: policy onevault_tenant_isolation has USING \(true\)/,
  },
  {
    check: 'tenant policies match V002',
    group: 'security',
    breakIt: (c) => q(c, 'CREATE POLICY zz_open ON auth.user_h FOR SELECT USING (true)'),
    found: /auth\.user_h: extra permissive policy zz_open for SELECT to public/,
  },
  {
    check: 'tenant policies match V002',
    group: 'security',
    breakIt: (c) => q(c, 'ALTER POLICY onevault_migration_owner ON auth.tenant_h TO public'),
    found: /auth\.tenant_h: policy onevault_migration_owner applies to public/,
  },
  {
    check: 'api EXECUTE matches V002 grants',
    group: 'security',
    breakIt: (c) => q(c, 'GRANT EXECUTE ON FUNCTION api.tenant_list(jsonb) TO onevault_app'),
    found: /api\.tenant_list\(jsonb\) executable by onevault_app/,
  },

  { check: 'system tenant lookup uses idx_tenant_h_system_lookup', group: 'performance', breakIt: (c) => q(c, 'DROP INDEX auth.idx_tenant_h_system_lookup'), found: /using \[tenant_h_tenant_bk_key\]|using none/ },
  { check: 'current profile lookup uses idx_tenant_profile_s_system_active', group: 'performance', breakIt: (c) => q(c, 'DROP INDEX auth.idx_tenant_profile_s_system_active'), found: /using \[(?!idx_tenant_profile_s_system_active)/ },

  { check: 'tenant hub has the fixed key', group: 'system tenant', breakIt: (c) => q(c, 'DROP TABLE auth.tenant_h CASCADE'), found: /error: relation "auth\.tenant_h" does not exist/, status: 'ERROR' },
];

async function q(client: Client, sql: string): Promise<void> {
  await client.query(sql);
}

describe('deployment checks', () => {
  let template: DeployedTemplate;
  before(async () => {
    template = await DeployedTemplate.create('dt_checks');
  });
  after(async () => {
    await template?.drop();
  });

  test('deployed database passes every check', async () => {
    await template.withBrokenCopy(
      'dt_pass',
      async () => undefined,
      async (url) => {
        const report = await runSuite(url);
        const notPassed = report.checks.filter((check) => check.status !== 'PASSED' && !(check.status === 'SKIPPED' && check.name === 'no api function executable by PUBLIC'));
        assert.deepEqual(notPassed.map((check) => `${check.group} / ${check.name}: ${check.status} ${check.details}`), []);
        assert.ok(report.checks.length >= 30, `only ${report.checks.length} checks`);
        for (const breakage of BREAKAGES) assert.equal(report.checks.find((check) => check.name === breakage.check)?.group, breakage.group);
        assert.equal(report.summary.overallStatus, 'PASSED');
        assert.equal(report.summary.failed + report.summary.errors, 0);
      },
    );
  });

  test('checksums of psql runs are skipped', async () => {
    await template.withBrokenCopy(
      'dt_no_checksums',
      (client) => q(client, `UPDATE util.migration_log SET checksum = NULL, executed_via = 'psql'`),
      async (url) => {
        const report = await runSuite(url, { groups: ['migration log'] });
        const result = assertStatus(report, 'applied files match their checksums', 'SKIPPED');
        assert.match(result.details, /0 recorded checksums/);
        assert.match(result.details, /a person compares the applied files/);
      },
    );
  });

  for (const breakage of BREAKAGES) {
    const status = breakage.status ?? 'FAILED';
    test(`${breakage.check} reports ${status}`, async () => {
      await template.withBrokenCopy(
        'dt_break',
        (client) => breakage.breakIt(client),
        async (url) => {
          const report = await runSuite(url, { groups: [breakage.group] });
          const result = assertStatus(report, breakage.check, status);
          assert.match(result.details, breakage.found);
          assert.equal(report.summary.overallStatus, 'FAILED');
        },
      );
    });
  }

  test('api function revoked from PUBLIC passes', async () => {
    await template.withBrokenCopy(
      'dt_api_ok',
      async (client) => {
        await client.query(`CREATE FUNCTION api.closed_ping() RETURNS text LANGUAGE sql AS $$ SELECT 'pong' $$`);
        await client.query('REVOKE ALL ON FUNCTION api.closed_ping() FROM PUBLIC');
      },
      async (url) => {
        const report = await runSuite(url, { groups: ['security'] });
        assertStatus(report, 'no api function executable by PUBLIC', 'PASSED');
      },
    );
  });

  test('table grant to application role fails', async () => {
    await template.withBrokenCopy(
      'dt_app_grant',
      async (client) => {
        await client.query('GRANT INSERT, UPDATE ON raw.tenant_registration_r TO onevault_app');
        await client.query('GRANT USAGE ON SEQUENCE util.migration_log_migration_log_id_seq TO onevault_system_operations');
      },
      async (url) => {
        const report = await runSuite(url, { groups: ['security'] });
        const found = assertStatus(report, 'no table grants to PUBLIC or application roles', 'FAILED').found;
        assert.match(found, /INSERT, UPDATE to onevault_app on raw\.tenant_registration_r/);
        assert.match(found, /USAGE to onevault_system_operations on util\.migration_log_migration_log_id_seq/);
      },
    );
  });

  test('revoked table grant passes', async () => {
    await template.withBrokenCopy(
      'dt_grant_revoked',
      async (client) => {
        await client.query('GRANT SELECT ON auth.user_auth_s TO PUBLIC');
        await client.query('REVOKE SELECT ON auth.user_auth_s FROM PUBLIC');
      },
      async (url) => {
        const report = await runSuite(url, { groups: ['security'] });
        assertStatus(report, 'no table grants to PUBLIC or application roles', 'PASSED');
      },
    );
  });

  test('performance bound that is missed fails', async () => {
    await template.withBrokenCopy(
      'dt_slow',
      async () => undefined,
      async (url) => {
        // A bound of 0 ms cannot be met, which simulates a lookup that has become slow.
        const report = await runSuite(url, { groups: ['performance'], performance: { runs: 3, boundMs: 0 } });
        assert.match(assertStatus(report, 'system tenant lookup median time is under the bound', 'FAILED').details, /median [\d.]+ ms of 3 runs/);
        assert.match(assertStatus(report, 'current profile lookup median time is under the bound', 'FAILED').details, /expected: median under 0 ms/);
      },
    );
  });

  test('server version outside the range fails', async () => {
    await template.withCopy('dt_version', async (client) => {
      const migrations = await loadMigrations(MIGRATIONS_DIR);
      for (const [versionNum, status] of [
        [120_022, 'FAILED'],
        [130_000, 'PASSED'],
        [180_001, 'PASSED'],
        [190_000, 'FAILED'],
      ] as const) {
        const context: SuiteContext = { client, config: {}, database: 'copy', serverVersionNum: versionNum, migrations, emit: () => undefined, performance: { runs: 1, boundMs: 5 } };
        const outcomes = new Map<string, CheckOutcome>();
        await prerequisiteChecks.run(context, (name, outcome) => outcomes.set(name, outcome));
        const outcome = outcomes.get('server version is supported');
        assert.equal(outcome?.status, status, `server_version_num ${versionNum}: ${outcome?.found}`);
        assert.equal(outcome?.expected, 'major 13 to 18');
      }
    });
  });
});
