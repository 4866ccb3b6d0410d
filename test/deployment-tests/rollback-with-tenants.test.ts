import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { deploy } from '../../src/apply/deploy';
import { registerTenant } from '../../src/tenants';
import { MIGRATIONS_DIR } from '../helpers/cli';
import { DeployedTemplate } from './deployed-template';
import { assertStatus, runSuite } from './suite-helpers';

const READINESS_CHECKS = ['V001 rollback succeeds', 'rollback removes every V001 object', 'removed rows are backed up', 'redeploy restores the state'] as const;
const V002_ROLLBACK = 'V002__rollback_tenant_registration.sql';
const SYSTEM_PROFILE = `tenant_hk = decode(repeat('00', 31) || '01', 'hex')`;

/** Empties the V002 backup copy of auth.user_auth_s, as a rollback with a broken backup would. */
const LOSE_BACKED_UP_CREDENTIALS = `DO $lose$
DECLARE
    v_table regclass;
BEGIN
    FOR v_table IN
        SELECT c.oid::regclass
        FROM pg_catalog.pg_class AS c
        JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname LIKE 'onevault\\_backup\\_v002\\_%'
          AND c.relname LIKE '%user\\_auth\\_s'
    LOOP
        EXECUTE pg_catalog.format('DELETE FROM %s', v_table);
    END LOOP;
END
$lose$;
`;

describe('rollback readiness with registered tenants', () => {
  let workDir: string;
  let template: DeployedTemplate;
  before(async () => {
    workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'onevault-dt-tenants-'));
    template = await DeployedTemplate.create('dt_tenants');
  });
  after(async () => {
    await template?.drop();
    if (workDir) await fs.rm(workDir, { recursive: true, force: true });
  });

  test('registered tenant passes readiness', async () => {
    await template.withBrokenCopy(
      'dt_tenant_ok',
      async (client) => {
        const response = await registerTenant(client, { tenant_name: 'Fcorp', admin_email: 'f@f.example', admin_password: 'Sup3rSecretPW!f1' });
        assert.equal(response.success, true, JSON.stringify(response));
      },
      async (url) => {
        const report = await runSuite(url, { groups: ['rollback readiness'] });
        for (const name of READINESS_CHECKS) assertStatus(report, name, 'PASSED');

        const forced = assertStatus(report, 'V001 rollback succeeds', 'PASSED').details;
        assert.match(forced, /with force/);
        assert.match(forced, /V002: Rollback V002 refused/);

        const steps = assertStatus(report, 'redeploy restores the state', 'PASSED').details;
        assert.match(steps, /onevault restore onevault_backup_v001_\w+ before the redeploy/);
        assert.match(steps, /redeployed \[V001, V002\]/);
        assert.match(steps, /onevault restore onevault_backup_v002_\w+ after the redeploy \(missing column raw\.tenant_registration_r\.error_code/);
      },
    );
  });

  test('profile repaired by reapply passes', async () => {
    await template.withBrokenCopy(
      'dt_tenant_reapply',
      async (client) => {
        await client.query(`UPDATE auth.tenant_profile_s SET max_users = 1 WHERE ${SYSTEM_PROFILE} AND load_end_date IS NULL`);
        const report = await deploy(client, { migrationsDir: MIGRATIONS_DIR, reapply: true });
        if (report.error) throw report.error;
        const versions = await client.query<{ closed: string }>(`SELECT count(*) FILTER (WHERE load_end_date IS NOT NULL) AS closed FROM auth.tenant_profile_s WHERE ${SYSTEM_PROFILE}`);
        assert.equal(versions.rows[0].closed, '1', 'the reapply should close the tampered profile version');
      },
      async (url) => {
        const report = await runSuite(url, { groups: ['rollback readiness'] });
        for (const name of READINESS_CHECKS) assertStatus(report, name, 'PASSED');
      },
    );
  });

  test('lost backup rows fail the comparison', async () => {
    const folder = path.join(workDir, 'lost-backup');
    await fs.cp(MIGRATIONS_DIR, folder, { recursive: true });
    const rollback = await fs.readFile(path.join(folder, V002_ROLLBACK), 'utf8');
    const lastCommit = rollback.lastIndexOf('COMMIT;');
    await fs.writeFile(path.join(folder, V002_ROLLBACK), `${rollback.slice(0, lastCommit)}${LOSE_BACKED_UP_CREDENTIALS}${rollback.slice(lastCommit)}`);

    await template.withBrokenCopy(
      'dt_tenant_lost',
      async (client) => {
        const response = await registerTenant(client, { tenant_name: 'Lostcorp', admin_email: 'l@l.example', admin_password: 'Sup3rSecretPW!l1' });
        assert.equal(response.success, true, JSON.stringify(response));
      },
      async (url) => {
        const report = await runSuite(url, { migrationsDir: folder, groups: ['rollback readiness'] });
        assertStatus(report, 'V001 rollback succeeds', 'PASSED');
        assert.match(assertStatus(report, 'redeploy restores the state', 'FAILED').details, /table auth\.user_auth_s rows: 1 → 0/);
      },
    );
  });
});
