import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { Client } from 'pg';

import { MIGRATIONS_DIR } from '../helpers/cli';
import { scalar, tenantScopedTables, uniqueTenantName, validRequest, withRegistrationDatabase } from './fixtures';

const V002_FORWARD = path.join(MIGRATIONS_DIR, 'V002__create_tenant_registration.sql');

/** How long the reapplied V002 may wait for a table lock before the test counts it as blocked. */
const REAPPLY_LOCK_TIMEOUT_MS = 3000;

/**
 * Runs the V002 forward file on a new connection to `url` as one simple-protocol query, with
 * lock_timeout set, and returns its NOTICE messages. Rejects with the error of the file.
 */
async function reapplyV002(url: string): Promise<string[]> {
  const sql = await fs.readFile(V002_FORWARD, 'utf8');
  const client = new Client({ connectionString: url });
  const notices: string[] = [];
  client.on('notice', (notice) => notices.push(notice.message ?? ''));
  await client.connect();
  try {
    await client.query(`SET lock_timeout = ${REAPPLY_LOCK_TIMEOUT_MS}`);
    await client.query(sql);
    return notices;
  } finally {
    await client.end();
  }
}

/** Returns `name=privileges` entries of the ACL of an api function, sorted. */
async function functionAcl(client: Client, signature: string): Promise<string[]> {
  const result = await client.query<{ acl: string[] }>(
    `SELECT ARRAY(SELECT unnest(proacl)::text ORDER BY 1) AS acl FROM pg_proc WHERE oid = $1::regprocedure`,
    [signature],
  );
  return result.rows[0].acl;
}

async function policyNames(client: Client, table: string): Promise<string[]> {
  const result = await client.query<{ polname: string }>('SELECT polname FROM pg_policy WHERE polrelid = $1::regclass ORDER BY polname', [table]);
  return result.rows.map((row) => row.polname);
}

describe('V002 reapply locks', () => {
  it('runs while writers lock every table', async () => {
    await withRegistrationDatabase(async (client, url) => {
      const tables = await tenantScopedTables(client);
      const writer = new Client({ connectionString: url });
      await writer.connect();
      try {
        await writer.query('BEGIN');
        await writer.query(`LOCK TABLE ${tables.join(', ')} IN ROW EXCLUSIVE MODE`);

        const notices = await reapplyV002(url);

        assert.ok(notices.includes('ℹ️ Tenant Row Level Security already enabled (15 tables)'), notices.join('\n'));
        assert.ok(notices.includes('ℹ️ Registration Status Columns already exist'), notices.join('\n'));
      } finally {
        await writer.query('ROLLBACK');
        await writer.end();
      }
    });
  });

  it('runs beside an open registration', async () => {
    await withRegistrationDatabase(async (client, url) => {
      const registrar = new Client({ connectionString: url });
      await registrar.connect();
      try {
        await registrar.query('BEGIN');
        const response = await registrar.query<{ response: { success: boolean } }>('SELECT api.tenant_register($1::jsonb) AS response', [
          JSON.stringify(validRequest({ tenant_name: uniqueTenantName('Reapply') })),
        ]);
        assert.equal(response.rows[0].response.success, true);

        await reapplyV002(url);

        await registrar.query('COMMIT');
      } finally {
        await registrar.query('ROLLBACK').catch(() => undefined);
        await registrar.end();
      }
      assert.equal(await scalar<string>(client, "SELECT count(*) FROM auth.tenant_h WHERE tenant_bk <> 'SYSTEM_OPERATIONS'"), '1');
    });
  });
});

describe('V002 reapply repairs drift', () => {
  it('restores a policy changed to true', async () => {
    await withRegistrationDatabase(async (client, url) => {
      const expected = await client.query("SELECT qual, with_check FROM pg_policies WHERE schemaname = 'auth' AND tablename = 'tenant_h' AND policyname = 'onevault_tenant_isolation'");
      await client.query('ALTER POLICY onevault_tenant_isolation ON auth.tenant_h USING (true) WITH CHECK (true)');

      const notices = await reapplyV002(url);

      const repaired = await client.query("SELECT qual, with_check FROM pg_policies WHERE schemaname = 'auth' AND tablename = 'tenant_h' AND policyname = 'onevault_tenant_isolation'");
      assert.deepEqual(repaired.rows, expected.rows);
      assert.ok(notices.includes('✅ Repaired Tenant Row Level Security (auth.tenant_h)'), notices.join('\n'));
    });
  });

  it('restores disabled row security', async () => {
    await withRegistrationDatabase(async (client, url) => {
      await client.query('ALTER TABLE raw.tenant_registration_r NO FORCE ROW LEVEL SECURITY');
      await client.query('ALTER TABLE auth.user_h DISABLE ROW LEVEL SECURITY');

      await reapplyV002(url);

      const flags = await client.query<{ name: string; enabled: boolean; forced: boolean }>(
        `SELECT oid::regclass::text AS name, relrowsecurity AS enabled, relforcerowsecurity AS forced
         FROM pg_class WHERE oid IN ('raw.tenant_registration_r'::regclass, 'auth.user_h'::regclass) ORDER BY 1`,
      );
      assert.deepEqual(flags.rows, [
        { name: 'auth.user_h', enabled: true, forced: true },
        { name: 'raw.tenant_registration_r', enabled: true, forced: true },
      ]);
    });
  });

  it('drops a stray permissive policy', async () => {
    await withRegistrationDatabase(async (client, url) => {
      await client.query('CREATE POLICY zz_open ON auth.user_h AS PERMISSIVE FOR SELECT TO PUBLIC USING (true)');

      const notices = await reapplyV002(url);

      assert.deepEqual(await policyNames(client, 'auth.user_h'), ['onevault_migration_owner', 'onevault_tenant_isolation']);
      assert.ok(notices.includes('🔒 Dropped policy zz_open on auth.user_h (not created by V002)'), notices.join('\n'));
      const logged = await scalar<string[]>(
        client,
        "SELECT details->'row_level_security_dropped_policies' FROM util.migration_log WHERE version = 'V002' ORDER BY migration_log_id DESC LIMIT 1",
      );
      assert.deepEqual(logged, ['zz_open on auth.user_h']);
    });
  });

  it('revokes a hand-made grant to onevault_app', async () => {
    await withRegistrationDatabase(async (client, url) => {
      const expected = await functionAcl(client, 'api.tenant_list(jsonb)');
      await client.query('GRANT EXECUTE ON FUNCTION api.tenant_list(jsonb) TO onevault_app');
      assert.notDeepEqual(await functionAcl(client, 'api.tenant_list(jsonb)'), expected);

      const notices = await reapplyV002(url);

      assert.deepEqual(await functionAcl(client, 'api.tenant_list(jsonb)'), expected);
      assert.equal(await scalar<boolean>(client, "SELECT has_function_privilege('onevault_app', 'api.tenant_list(jsonb)', 'EXECUTE')"), false);
      assert.ok(notices.includes('🔒 Revoked EXECUTE on api.tenant_list(jsonb) from onevault_app (granted outside V002)'), notices.join('\n'));
      assert.ok(notices.includes('✅ Repaired API Access (onevault_app: api.tenant_register, onevault_system_operations: every api function)'), notices.join('\n'));
    });
  });

  it('revokes a hand-made grant to PUBLIC', async () => {
    await withRegistrationDatabase(async (client, url) => {
      await client.query('GRANT EXECUTE ON FUNCTION api.tenant_get(jsonb) TO PUBLIC');

      const notices = await reapplyV002(url);

      assert.equal(await scalar<boolean>(client, "SELECT has_function_privilege('public', 'api.tenant_get(jsonb)', 'EXECUTE')"), false);
      assert.ok(notices.includes('🔒 Revoked EXECUTE on api.tenant_get(jsonb) from PUBLIC (granted outside V002)'), notices.join('\n'));
    });
  });

  it('grants back a revoked intended grant', async () => {
    await withRegistrationDatabase(async (client, url) => {
      await client.query('REVOKE EXECUTE ON FUNCTION api.tenant_register(jsonb) FROM onevault_app');

      await reapplyV002(url);

      assert.equal(await scalar<boolean>(client, "SELECT has_function_privilege('onevault_app', 'api.tenant_register(jsonb)', 'EXECUTE')"), true);
      assert.equal(await scalar<boolean>(client, "SELECT has_function_privilege('onevault_system_operations', 'api.tenant_get(jsonb)', 'EXECUTE')"), true);
    });
  });

  it('reapply without drift reports nothing removed', async () => {
    await withRegistrationDatabase(async (client, url) => {
      const notices = await reapplyV002(url);

      assert.deepEqual(notices.filter((line) => line.startsWith('🔒')), []);
      assert.ok(notices.includes('ℹ️ API Access already granted (onevault_app: api.tenant_register, onevault_system_operations: every api function)'), notices.join('\n'));
      assert.ok(notices.includes('ℹ️ Tenant Row Level Security already enabled (15 tables)'), notices.join('\n'));
    });
  });
});
