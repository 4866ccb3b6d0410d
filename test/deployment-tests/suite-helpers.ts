import assert from 'node:assert/strict';
import type { Client } from 'pg';

import type { CheckResult, CheckStatus, DeploymentTestEvent, DeploymentTestReport } from '../../src/deployment-tests/check-result';
import { runDeploymentTests, type DeploymentTestOptions } from '../../src/deployment-tests/run-deployment-tests';
import { MIGRATIONS_DIR } from '../helpers/cli';

/** Runs the suite, or some of its groups, against the database at `url`. */
export function runSuite(url: string, options: Partial<DeploymentTestOptions> = {}, events: DeploymentTestEvent[] = []): Promise<DeploymentTestReport> {
  return runDeploymentTests({
    config: { connectionString: url },
    migrationsDir: MIGRATIONS_DIR,
    performance: { runs: 3 },
    onEvent: (event) => events.push(event),
    ...options,
  });
}

/** Returns the result of the named check, failing the test when the report has none. */
export function resultOf(report: DeploymentTestReport, name: string): CheckResult {
  const result = report.checks.find((check) => check.name === name);
  assert.ok(result, `the report has no check "${name}"; it has: ${report.checks.map((check) => check.name).join(', ')}`);
  return result;
}

/** Asserts the status of one check, showing its details when it differs. */
export function assertStatus(report: DeploymentTestReport, name: string, status: CheckStatus): CheckResult {
  const result = resultOf(report, name);
  assert.equal(result.status, status, `${name}: ${result.details}`);
  return result;
}

/** Inserts a second tenant with a current profile of the given type, sharing the system tenant's record_source. */
export async function insertTenant(client: Client, businessKey: string, tenantType: string): Promise<void> {
  await client.query(
    `INSERT INTO auth.tenant_h (tenant_hk, tenant_bk, load_date, record_source)
     SELECT util.hash_binary($1), $1, now(), record_source FROM auth.tenant_h WHERE tenant_bk = 'SYSTEM_OPERATIONS'`,
    [businessKey],
  );
  await client.query(
    `INSERT INTO auth.tenant_profile_s (tenant_hk, load_date, hash_diff, tenant_name, tenant_type, tenant_status, max_users, compliance_frameworks, is_active, record_source)
     SELECT util.hash_binary($1), now(), util.hash_binary($1), $1, $2, 'ACTIVE', 10, '{}', true, record_source
     FROM auth.tenant_profile_s
     WHERE tenant_hk = util.get_system_operations_tenant_hk() AND load_end_date IS NULL`,
    [businessKey, tenantType],
  );
}
