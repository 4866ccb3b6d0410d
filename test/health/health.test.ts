import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Client } from 'pg';

import { checkHealth } from '../../src/health/check-health';
import type { HealthReport } from '../../src/health/health-report';
import { loadMigrations } from '../../src/migrations/catalog';
import { MIGRATIONS_DIR, runCli } from '../helpers/cli';
import { DeployedTemplate, openSession } from '../deployment-tests/deployed-template';

function findingOf(report: HealthReport, name: string) {
  const finding = report.findings.find((candidate) => candidate.name === name);
  assert.ok(finding, `health report has no finding "${name}"; it has ${report.findings.map((candidate) => candidate.name).join(', ')}`);
  return finding;
}

async function waitUntil(client: Client, sql: string, values: unknown[]): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt += 1) {
    if ((await client.query(sql, values)).rowCount) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`condition never became true: ${sql}`);
}

describe('health', () => {
  let template: DeployedTemplate;
  before(async () => {
    template = await DeployedTemplate.create('health');
  });
  after(async () => {
    await template?.drop();
  });

  test('deployed database is healthy', async () => {
    await template.withCopy('health_ok', async (client) => {
      const report = await checkHealth(client);
      assert.equal(report.healthy, true, report.reasons.join('\n'));
      assert.deepEqual(report.reasons, []);
      assert.equal(report.systemTenant?.tenantHk, `${'00'.repeat(31)}01`);
      assert.equal(report.functionValue, `${'00'.repeat(31)}01`);
      assert.equal(report.rolePermissions?.length, 6);
      assert.deepEqual(report.indexUsage.map((index) => index.index).sort(), ['idx_tenant_h_system_lookup', 'idx_tenant_profile_s_system_active']);
      assert.equal(report.lastDeployment?.status, 'SUCCESS');
      const versions = (await loadMigrations(MIGRATIONS_DIR)).map((migration) => migration.version);
      assert.equal(report.lastDeployment?.version, versions[versions.length - 1]);
      assert.ok(report.connections.current >= 1);
      assert.ok(report.connections.maxConnections > report.connections.current);
    });
  });

  test('missing role permission is critical', async () => {
    await template.withCopy('health_perm', async (client) => {
      await client.query(`UPDATE auth.role_profile_s SET permissions = array_remove(permissions, 'BACKUP_MANAGEMENT') WHERE load_end_date IS NULL`);
      const report = await checkHealth(client);
      assert.equal(report.healthy, false);
      assert.equal(findingOf(report, 'system role permissions').status, 'critical');
      assert.match(findingOf(report, 'system role permissions').summary, /missing BACKUP_MANAGEMENT/);
    });
  });

  test('removed role profile is critical', async () => {
    await template.withCopy('health_profile', async (client) => {
      await client.query(`DELETE FROM auth.role_profile_s WHERE role_name = 'System Operations Administrator'`);
      const report = await checkHealth(client);
      assert.equal(report.healthy, false);
      assert.match(findingOf(report, 'system role permissions').summary, /found 0 current profiles/);
    });
  });

  test('wrong function value is critical', async () => {
    await template.withCopy('health_function', async (client) => {
      await client.query(`CREATE OR REPLACE FUNCTION util.get_system_operations_tenant_hk() RETURNS bytea LANGUAGE sql IMMUTABLE AS $$ SELECT decode(repeat('00', 32), 'hex') $$`);
      const report = await checkHealth(client);
      assert.equal(report.healthy, false);
      assert.equal(findingOf(report, 'system tenant function').status, 'critical');
      assert.match(findingOf(report, 'system tenant function').summary, /expected 0{63}1/);
    });
  });

  test('dropped system index is critical', async () => {
    await template.withCopy('health_index', async (client) => {
      await client.query('DROP INDEX auth.idx_tenant_h_system_lookup');
      const report = await checkHealth(client);
      assert.equal(report.healthy, false);
      assert.equal(findingOf(report, 'index auth.idx_tenant_h_system_lookup').status, 'critical');
      assert.equal(findingOf(report, 'index auth.idx_tenant_profile_s_system_active').status, 'ok');
    });
  });

  test('invalid system index is critical', async () => {
    await template.withCopy('health_invalid', async (client, url) => {
      // A failed CREATE INDEX CONCURRENTLY leaves an invalid index behind, as in production.
      await client.query('DROP INDEX auth.idx_tenant_h_system_lookup');
      await client.query(`INSERT INTO auth.tenant_h SELECT util.hash_binary('OTHER'), 'OTHER', now(), record_source FROM auth.tenant_h WHERE tenant_bk = 'SYSTEM_OPERATIONS'`);
      const other = await openSession(url);
      try {
        await assert.rejects(other.query('CREATE UNIQUE INDEX CONCURRENTLY idx_tenant_h_system_lookup ON auth.tenant_h (record_source)'));
      } finally {
        await other.end();
      }
      const report = await checkHealth(client);
      assert.equal(report.healthy, false);
      assert.match(findingOf(report, 'index auth.idx_tenant_h_system_lookup').summary, /invalid/);
    });
  });

  test('abandoned RUNNING run is critical', async () => {
    await template.withCopy('health_running', async (client) => {
      await client.query(
        `INSERT INTO util.migration_log (run_id, version, name, direction, status, started_at, executed_via)
         VALUES (gen_random_uuid(), 'V002', 'next', 'FORWARD', 'RUNNING', now(), 'psql')`,
      );
      const report = await checkHealth(client);
      assert.equal(report.healthy, false);
      assert.equal(findingOf(report, 'last deployment').status, 'critical');
      assert.match(findingOf(report, 'last deployment').summary, /abandoned/);
    });
  });

  test('FAILED last run is critical', async () => {
    await template.withCopy('health_failed', async (client) => {
      await client.query(
        `INSERT INTO util.migration_log (run_id, version, name, direction, status, started_at, finished_at, executed_via, error_message)
         VALUES (gen_random_uuid(), 'V002', 'next', 'FORWARD', 'FAILED', now(), now(), 'onevault', 'relation "x" does not exist')`,
      );
      const report = await checkHealth(client);
      assert.equal(report.healthy, false);
      assert.match(report.reasons.join('\n'), /last deployment: FAILED.*relation "x" does not exist/);
    });
  });

  test('repair row is not the last deployment', async () => {
    await template.withCopy('health_repair', async (client) => {
      const deployed = (await client.query<{ version: string }>(`SELECT version FROM util.migration_log WHERE details->>'repair' IS DISTINCT FROM 'true' ORDER BY migration_log_id DESC LIMIT 1`)).rows[0].version;
      await client.query(
        `INSERT INTO util.migration_log (run_id, version, name, direction, status, started_at, finished_at, executed_via, details)
         VALUES (gen_random_uuid(), 'V001', 'system_operations_tenant', 'FORWARD', 'SUCCESS', now(), now(), 'onevault', '{"repair": true}')`,
      );
      const report = await checkHealth(client);
      assert.equal(report.lastDeployment?.version, deployed);
      assert.notEqual(deployed, 'V001');
      assert.equal(findingOf(report, 'last deployment').status, 'ok');
    });
  });

  test('refused rollback is a warning', async () => {
    await template.withCopy('health_refused', async (client) => {
      await client.query(
        `INSERT INTO util.migration_log (run_id, version, name, direction, status, started_at, finished_at, executed_via, error_message, error_detail)
         VALUES (gen_random_uuid(), 'V002', 'tenant_registration', 'ROLLBACK', 'FAILED', now(), now(), 'onevault', 'tenants exist', '{"code": "ROLLBACK_BLOCKED", "sqlstate": "2BP01"}')`,
      );
      const report = await checkHealth(client);
      assert.equal(report.healthy, true, report.reasons.join('\n'));
      const finding = findingOf(report, 'last deployment');
      assert.equal(finding.status, 'warning');
      assert.match(finding.summary, /rollback refused \(ROLLBACK_BLOCKED\), so the database is unchanged/);
    });
  });

  test('refused rollback by sqlstate is a warning', async () => {
    await template.withCopy('health_refused_psql', async (client) => {
      await client.query(
        `INSERT INTO util.migration_log (run_id, version, name, direction, status, started_at, finished_at, executed_via, error_message, error_detail)
         VALUES (gen_random_uuid(), 'V002', 'tenant_registration', 'ROLLBACK', 'FAILED', now(), now(), 'psql', 'tenants exist', '{"sqlstate": "2BP01"}')`,
      );
      const report = await checkHealth(client);
      assert.equal(findingOf(report, 'last deployment').status, 'warning');
    });
  });

  test('other failed rollback is critical', async () => {
    await template.withCopy('health_rollback_failed', async (client) => {
      await client.query(
        `INSERT INTO util.migration_log (run_id, version, name, direction, status, started_at, finished_at, executed_via, error_message, error_detail)
         VALUES (gen_random_uuid(), 'V002', 'tenant_registration', 'ROLLBACK', 'FAILED', now(), now(), 'onevault', 'syntax error', '{"code": "MIGRATION_FAILED", "sqlstate": "42601"}')`,
      );
      const report = await checkHealth(client);
      assert.equal(report.healthy, false);
      assert.equal(findingOf(report, 'last deployment').status, 'critical');
    });
  });

  test('blocking lock of another session is reported', async () => {
    await template.withCopy('health_lock', async (client, url) => {
      const holder = await openSession(url);
      const waiter = await openSession(url);
      try {
        await holder.query('BEGIN');
        await holder.query('LOCK TABLE auth.tenant_h IN SHARE MODE');
        const holderPid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
        const waiterPid = (await waiter.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
        const blocked = waiter.query(`UPDATE auth.tenant_h SET record_source = record_source WHERE tenant_bk = 'SYSTEM_OPERATIONS'`).catch(() => undefined);
        await waitUntil(client, 'SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = $2', [waiterPid, 'Lock']);

        const patient = await checkHealth(client);
        assert.equal(findingOf(patient, 'blocking locks').status, 'warning');
        assert.equal(patient.healthy, true, patient.reasons.join('\n'));
        assert.deepEqual(patient.blockedSessions.map((session) => [session.pid, session.blockingPids]), [[waiterPid, [holderPid]]]);

        const strict = await checkHealth(client, { lockWaitCriticalMs: 0 });
        assert.equal(strict.healthy, false);
        assert.match(strict.reasons.join('\n'), new RegExp(`session ${waiterPid} waits .* for session ${holderPid}`));

        await holder.query('ROLLBACK');
        await blocked;
      } finally {
        await holder.end();
        await waiter.end();
      }
    });
  });

  test('exclusive lock does not stall health', async () => {
    await template.withCopy('health_exclusive', async (client, url) => {
      const holder = await openSession(url);
      try {
        await holder.query('BEGIN');
        await holder.query('LOCK TABLE auth.role_profile_s IN ACCESS EXCLUSIVE MODE');
        const report = await checkHealth(client);
        assert.equal(report.healthy, false);
        assert.match(findingOf(report, 'system role permissions').summary, /timed out waiting for a lock/);
        await holder.query('ROLLBACK');
      } finally {
        await holder.end();
      }
    });
  });

  test('idle transaction is reported as warning', async () => {
    await template.withCopy('health_idle', async (client, url) => {
      const idle = await openSession(url);
      try {
        await idle.query('BEGIN');
        await idle.query('SELECT 1');
        const idlePid = (await idle.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
        const report = await checkHealth(client, { idleInTransactionMs: 0 });
        assert.equal(findingOf(report, 'idle in transaction').status, 'warning');
        assert.ok(report.idleInTransaction.some((session) => session.pid === idlePid));
        assert.equal(report.healthy, true);
        await idle.query('ROLLBACK');
      } finally {
        await idle.end();
      }
    });
  });

  test('CLI renders JSON and exits 0', async () => {
    await template.withCopy('health_cli_ok', async (_client, url) => {
      const result = await runCli(['--database-url', url, '--json', 'health']);
      assert.equal(result.code, 0, result.stderr);
      const report = JSON.parse(result.stdout) as HealthReport;
      assert.equal(report.healthy, true);
      assert.ok(Array.isArray(report.findings));
    });
  });

  test('CLI exits 3 with the reason', async () => {
    await template.withCopy('health_cli_bad', async (client, url) => {
      await client.query('DROP INDEX auth.idx_tenant_profile_s_system_active');
      const result = await runCli(['--database-url', url, 'health']);
      assert.equal(result.code, 3);
      assert.match(result.stdout, /unhealthy: 1 critical finding/);
      assert.match(result.stderr, /index auth\.idx_tenant_profile_s_system_active: missing/);
    });
  });
  describe('system profile and tenant isolation', () => {
    const SYSTEM_PROFILE = `tenant_hk = decode(repeat('00', 31) || '01', 'hex') AND load_end_date IS NULL`;
    const NEW_FINDINGS = ['system tenant profile', 'row level security', 'tenant isolation policies', 'api function privileges'] as const;

    test('deployed database passes new checks', async () => {
      await template.withCopy('health_iso_ok', async (client) => {
        const report = await checkHealth(client);
        for (const name of NEW_FINDINGS) assert.equal(findingOf(report, name).status, 'ok', `${name}: ${findingOf(report, name).summary}`);
        assert.match(findingOf(report, 'row level security').summary, /enabled and forced on all \d+ tenant-scoped tables/);
      });
    });

    test('tampered system profile is critical', async () => {
      await template.withCopy('health_profile', async (client) => {
        await client.query(`UPDATE auth.tenant_profile_s SET tenant_name = 'Hacked', max_users = 1, tenant_status = 'SUSPENDED', is_active = false WHERE ${SYSTEM_PROFILE}`);
        const report = await checkHealth(client);
        assert.equal(report.healthy, false);
        const finding = findingOf(report, 'system tenant profile');
        assert.equal(finding.status, 'critical');
        assert.match(finding.summary, /tenant_name "Hacked" \(expected "System Operations Tenant"\)/);
        assert.match(finding.summary, /tenant_status "SUSPENDED"/);
        assert.match(finding.summary, /is_active false/);
        assert.match(finding.summary, /max_users 1 \(expected 999\)/);
      });
    });

    test('wrong profile type is critical', async () => {
      await template.withCopy('health_type', async (client) => {
        await client.query(`UPDATE auth.tenant_profile_s SET tenant_type = 'BUSINESS' WHERE ${SYSTEM_PROFILE}`);
        const report = await checkHealth(client);
        assert.equal(report.healthy, false);
        assert.match(findingOf(report, 'system tenant profile').summary, /tenant_type "BUSINESS" \(expected "SYSTEM"\)/);
      });
    });

    test('disabled row level security is critical', async () => {
      await template.withCopy('health_rls_off', async (client) => {
        await client.query('ALTER TABLE auth.user_auth_s DISABLE ROW LEVEL SECURITY');
        const report = await checkHealth(client);
        assert.equal(report.healthy, false);
        assert.equal(findingOf(report, 'row level security').status, 'critical');
        assert.match(findingOf(report, 'row level security').summary, /disabled on auth\.user_auth_s/);
      });
    });

    test('unforced row level security is critical', async () => {
      await template.withCopy('health_rls_noforce', async (client) => {
        await client.query('ALTER TABLE raw.tenant_registration_r NO FORCE ROW LEVEL SECURITY');
        const report = await checkHealth(client);
        assert.equal(report.healthy, false);
        assert.match(findingOf(report, 'row level security').summary, /not forced on raw\.tenant_registration_r/);
      });
    });

    test('missing isolation policy is critical', async () => {
      await template.withCopy('health_policy', async (client) => {
        await client.query('DROP POLICY onevault_tenant_isolation ON auth.user_h');
        const report = await checkHealth(client);
        assert.equal(report.healthy, false);
        assert.equal(findingOf(report, 'tenant isolation policies').status, 'critical');
        assert.match(findingOf(report, 'tenant isolation policies').summary, /auth\.user_h: policy onevault_tenant_isolation missing/);
        assert.equal(findingOf(report, 'row level security').status, 'ok');
      });
    });

    test('public api function is critical', async () => {
      await template.withCopy('health_api', async (client) => {
        await client.query('GRANT EXECUTE ON FUNCTION api.tenant_list(jsonb) TO PUBLIC');
        const report = await checkHealth(client);
        assert.equal(report.healthy, false);
        assert.equal(findingOf(report, 'api function privileges').status, 'critical');
        assert.match(findingOf(report, 'api function privileges').summary, /api\.tenant_list\(jsonb\) executable by PUBLIC/);
      });
    });

    test('opened isolation policy is critical', async () => {
      await template.withCopy('health_policy_open', async (client) => {
        await client.query('ALTER POLICY onevault_tenant_isolation ON auth.user_auth_s USING (true)');
        const report = await checkHealth(client);
        assert.equal(report.healthy, false);
        assert.equal(findingOf(report, 'tenant isolation policies').status, 'critical');
        assert.match(findingOf(report, 'tenant isolation policies').summary, /auth\.user_auth_s: policy onevault_tenant_isolation has USING \(true\)/);
      });
    });

    test('extra permissive policy is critical', async () => {
      await template.withCopy('health_policy_extra', async (client) => {
        await client.query('CREATE POLICY zz_open ON auth.user_h FOR SELECT USING (true)');
        const report = await checkHealth(client);
        assert.equal(report.healthy, false);
        assert.equal(findingOf(report, 'tenant isolation policies').status, 'critical');
        assert.match(findingOf(report, 'tenant isolation policies').summary, /auth\.user_h: extra permissive policy zz_open for SELECT to public USING \(true\)/);
      });
    });

    test('owner policy given to PUBLIC is critical', async () => {
      await template.withCopy('health_policy_roles', async (client) => {
        await client.query('ALTER POLICY onevault_migration_owner ON auth.tenant_h TO public');
        const report = await checkHealth(client);
        assert.equal(report.healthy, false);
        assert.match(findingOf(report, 'tenant isolation policies').summary, /auth\.tenant_h: policy onevault_migration_owner applies to public, expected postgres/);
      });
    });

    test('api function granted to app is critical', async () => {
      await template.withCopy('health_api_app', async (client) => {
        await client.query('GRANT EXECUTE ON FUNCTION api.tenant_list(jsonb) TO onevault_app');
        const report = await checkHealth(client);
        assert.equal(report.healthy, false);
        assert.equal(findingOf(report, 'api function privileges').status, 'critical');
        assert.match(findingOf(report, 'api function privileges').summary, /api\.tenant_list\(jsonb\) executable by onevault_app/);
      });
    });

    test('api grant revoked from system role is critical', async () => {
      await template.withCopy('health_api_missing', async (client) => {
        await client.query('REVOKE EXECUTE ON FUNCTION api.tenant_get(jsonb) FROM onevault_system_operations');
        const report = await checkHealth(client);
        assert.equal(findingOf(report, 'api function privileges').status, 'critical');
        assert.match(findingOf(report, 'api function privileges').summary, /api\.tenant_get\(jsonb\) not executable by onevault_system_operations/);
      });
    });

    test('isolation is not checked before V002', async () => {
      await template.withCopy('health_before_v002', async (client) => {
        await client.query(`DELETE FROM util.migration_log WHERE version = 'V002'`);
        await client.query('ALTER TABLE auth.user_auth_s DISABLE ROW LEVEL SECURITY');
        const report = await checkHealth(client);
        assert.equal(findingOf(report, 'row level security').status, 'ok');
        assert.match(findingOf(report, 'row level security').summary, /V002 is not applied/);
      });
    });

    test('CLI exits 3 for disabled isolation', async () => {
      await template.withCopy('health_cli_rls', async (client, url) => {
        await client.query('ALTER TABLE auth.user_auth_s DISABLE ROW LEVEL SECURITY');
        const result = await runCli(['--database-url', url, 'health']);
        assert.equal(result.code, 3, result.stderr);
        assert.match(result.stderr, /row level security: disabled on auth\.user_auth_s/);
      });
    });
  });
});
