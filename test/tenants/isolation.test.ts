import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Client } from 'pg';

import { listTenants, registerTenant, withTenantContext, type RegisteredTenant } from '../../src/tenants';
import { openSharedDatabase, scalar, SYSTEM_TENANT_HK_HEX, tenantScopedTables, validRequest, type SharedDatabase } from './fixtures';

const SQLSTATE_INSUFFICIENT_PRIVILEGE = '42501';

function sqlstateOf(error: unknown): string | undefined {
  return (error as { code?: string }).code;
}

/**
 * Runs `work` in a transaction that is always rolled back, after granting `role` read access to
 * every tenant-scoped table, so that row level security alone decides which rows the role can read.
 */
async function asReaderOf(client: Client, role: string, tables: readonly string[], work: () => Promise<void>): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query(`GRANT USAGE ON SCHEMA auth, raw, staging, audit TO ${role}`);
    for (const table of tables) await client.query(`GRANT SELECT ON ${table} TO ${role}`);
    await client.query(`SET LOCAL ROLE ${role}`);
    await work();
  } finally {
    await client.query('ROLLBACK');
  }
}

async function setCurrentTenant(client: Client, tenantId: string): Promise<void> {
  await client.query(`SELECT set_config('onevault.current_tenant_hk', $1, true)`, [tenantId]);
}

/** Counts the rows of `table` whose tenant_hk is `tenantId` (own) and the rows whose tenant_hk is not (foreign). */
async function rowsByTenant(client: Client, table: string, tenantId: string): Promise<{ own: number; foreign: number }> {
  const result = await client.query<{ own: string; foreign: string }>(
    `SELECT count(*) FILTER (WHERE tenant_hk = decode($1, 'hex')) AS own,
            count(*) FILTER (WHERE tenant_hk IS DISTINCT FROM decode($1, 'hex')) AS foreign
     FROM ${table}`,
    [tenantId],
  );
  return { own: Number(result.rows[0].own), foreign: Number(result.rows[0].foreign) };
}

describe('tenant isolation', () => {
  let database: SharedDatabase;
  let tenantA: RegisteredTenant;
  let tenantB: RegisteredTenant;
  let tables: string[];

  before(async () => {
    database = await openSharedDatabase();
    const first = await registerTenant(database.client, validRequest());
    const second = await registerTenant(database.client, validRequest());
    assert.ok(first.success, JSON.stringify(first));
    assert.ok(second.success, JSON.stringify(second));
    tenantA = first.data;
    tenantB = second.data;
    tables = await tenantScopedTables(database.client);
  });

  after(async () => {
    await database?.close();
  });

  it('forces row level security everywhere', async () => {
    assert.ok(tables.length >= 15, `only ${tables.length} tenant-scoped tables found`);
    for (const table of tables) {
      const flags = await database.client.query<{ relrowsecurity: boolean; relforcerowsecurity: boolean; policies: string[] }>(
        `SELECT relrowsecurity, relforcerowsecurity,
                ARRAY(SELECT polname::text FROM pg_policy WHERE polrelid = c.oid ORDER BY 1) AS policies
         FROM pg_class AS c WHERE c.oid = $1::regclass`,
        [table],
      );
      assert.equal(flags.rows[0].relrowsecurity, true, `${table} has row level security disabled`);
      assert.equal(flags.rows[0].relforcerowsecurity, true, `${table} does not force row level security`);
      assert.deepEqual(flags.rows[0].policies, ['onevault_migration_owner', 'onevault_tenant_isolation'], table);
    }
  });

  it('shows tenant A only its own rows', async () => {
    await asReaderOf(database.client, 'onevault_app', tables, async () => {
      await setCurrentTenant(database.client, tenantA.tenant_id);
      let ownRows = 0;
      for (const table of tables) {
        const rows = await rowsByTenant(database.client, table, tenantA.tenant_id);
        assert.equal(rows.foreign, 0, `${table} shows rows of another tenant`);
        ownRows += rows.own;
      }
      // Hubs, profiles, user, roles and link of tenant A.
      assert.equal(ownRows, 10);
    });
  });

  it('hides tenant B and the system tenant', async () => {
    await asReaderOf(database.client, 'onevault_app', tables, async () => {
      await setCurrentTenant(database.client, tenantA.tenant_id);
      for (const table of tables) {
        const hidden = await scalar<string>(
          database.client,
          `SELECT count(*) FROM ${table} WHERE tenant_hk IN (decode($1, 'hex'), decode($2, 'hex'))`,
          [tenantB.tenant_id, SYSTEM_TENANT_HK_HEX],
        );
        assert.equal(Number(hidden), 0, `${table} shows rows of tenant B or of the system tenant`);
      }
    });
  });

  it('shows nothing without a tenant', async () => {
    for (const setting of [undefined, '']) {
      await asReaderOf(database.client, 'onevault_app', tables, async () => {
        if (setting !== undefined) await setCurrentTenant(database.client, setting);
        for (const table of tables) {
          const count = await scalar<string>(database.client, `SELECT count(*) FROM ${table}`);
          assert.equal(Number(count), 0, `${table} shows rows with the tenant setting ${JSON.stringify(setting)}`);
        }
      });
    }
  });

  it('keeps system rows from the app role', async () => {
    await asReaderOf(database.client, 'onevault_app', tables, async () => {
      await setCurrentTenant(database.client, SYSTEM_TENANT_HK_HEX);
      for (const table of tables) {
        const count = await scalar<string>(database.client, `SELECT count(*) FROM ${table}`);
        assert.equal(Number(count), 0, `${table} shows system tenant rows to onevault_app`);
      }
    });
  });

  it('shows system rows to system operations', async () => {
    await asReaderOf(database.client, 'onevault_system_operations', tables, async () => {
      await setCurrentTenant(database.client, SYSTEM_TENANT_HK_HEX);
      assert.equal(Number(await scalar<string>(database.client, 'SELECT count(*) FROM auth.tenant_h')), 1);
      assert.equal(Number(await scalar<string>(database.client, 'SELECT count(*) FROM raw.tenant_registration_r')), 2);
      const foreign = await scalar<string>(database.client, `SELECT count(*) FROM auth.tenant_h WHERE tenant_hk <> decode($1, 'hex')`, [SYSTEM_TENANT_HK_HEX]);
      assert.equal(Number(foreign), 0);
    });
  });

  it('rejects writes into another tenant', async () => {
    const client = database.client;
    await client.query('BEGIN');
    try {
      await client.query('GRANT USAGE ON SCHEMA auth TO onevault_app');
      await client.query('GRANT SELECT, INSERT, UPDATE ON auth.tenant_profile_s TO onevault_app');
      await client.query('SET LOCAL ROLE onevault_app');
      await setCurrentTenant(client, tenantA.tenant_id);

      const updated = await client.query(`UPDATE auth.tenant_profile_s SET max_users = 1 WHERE tenant_hk = decode($1, 'hex')`, [tenantB.tenant_id]);
      assert.equal(updated.rowCount, 0);

      await assert.rejects(
        client.query(`UPDATE auth.tenant_profile_s SET tenant_hk = decode($1, 'hex') WHERE tenant_hk = decode($2, 'hex')`, [tenantB.tenant_id, tenantA.tenant_id]),
        (error) => sqlstateOf(error) === SQLSTATE_INSUFFICIENT_PRIVILEGE,
      );
    } finally {
      await client.query('ROLLBACK');
    }
  });

  it('forces policies on another table owner', async () => {
    const client = database.client;
    const owner = `onevault_regw_owner_${randomBytes(6).toString('hex')}`;
    // CREATE ROLE is transactional, so the rollback below drops the role again.
    await client.query('BEGIN');
    try {
      await client.query(`CREATE ROLE ${owner} NOLOGIN`);
      await client.query(`GRANT USAGE ON SCHEMA auth TO ${owner}`);
      await client.query(`ALTER TABLE auth.tenant_h OWNER TO ${owner}`);
      await client.query(`SET LOCAL ROLE ${owner}`);

      assert.equal(Number(await scalar<string>(client, 'SELECT count(*) FROM auth.tenant_h')), 0);
      await setCurrentTenant(client, tenantB.tenant_id);
      assert.equal(Number(await scalar<string>(client, 'SELECT count(*) FROM auth.tenant_h')), 1);
    } finally {
      await client.query('ROLLBACK');
    }
  });

  it('withTenantContext scopes one transaction', async () => {
    const client = database.client;
    const seen = await withTenantContext(client, tenantB.tenant_id, async () => scalar<string>(client, `SELECT current_setting('onevault.current_tenant_hk')`));
    assert.equal(seen, tenantB.tenant_id);
    assert.equal(await scalar<string>(client, `SELECT coalesce(current_setting('onevault.current_tenant_hk', true), '')`), '');
  });
});

describe('api privileges', () => {
  let database: SharedDatabase;

  before(async () => {
    database = await openSharedDatabase();
  });

  after(async () => {
    await database?.close();
  });

  it('PUBLIC cannot execute api functions', async () => {
    const functions = await database.client.query<{ signature: string; public_execute: boolean; public_in_acl: boolean }>(
      `SELECT p.oid::regprocedure::text AS signature,
              has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute,
              p.proacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) AS entry WHERE entry.grantee = 0) AS public_in_acl
       FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
       WHERE n.nspname = 'api'
       ORDER BY 1`,
    );
    assert.ok(functions.rows.length >= 3);
    for (const row of functions.rows) {
      assert.equal(row.public_execute, false, `PUBLIC may execute ${row.signature}`);
      assert.equal(row.public_in_acl, false, `${row.signature} has an ACL entry for PUBLIC`);
    }

    // A role with no grants at all, apart from USAGE on api, is refused by every function.
    const client = database.client;
    const nobody = `onevault_regw_nobody_${randomBytes(6).toString('hex')}`;
    for (const row of functions.rows) {
      await client.query('BEGIN');
      try {
        await client.query(`CREATE ROLE ${nobody} NOLOGIN`);
        await client.query(`GRANT USAGE ON SCHEMA api TO ${nobody}`);
        await client.query(`SET LOCAL ROLE ${nobody}`);
        await assert.rejects(client.query(`SELECT ${row.signature.replace(/\(.*\)$/, '')}('{}'::jsonb)`), (error) => sqlstateOf(error) === SQLSTATE_INSUFFICIENT_PRIVILEGE, row.signature);
      } finally {
        await client.query('ROLLBACK');
      }
    }
  });

  it('app role reads no table directly', async () => {
    const client = database.client;
    const relations = await client.query<{ name: string; privileged: boolean }>(
      `SELECT format('%I.%I', n.nspname, c.relname) AS name,
              has_table_privilege('onevault_app', c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
                OR has_any_column_privilege('onevault_app', c.oid, 'SELECT, INSERT, UPDATE, REFERENCES') AS privileged
       FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
       WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
         AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
       ORDER BY 1`,
    );
    assert.ok(relations.rows.length >= 16);
    for (const relation of relations.rows) {
      assert.equal(relation.privileged, false, `onevault_app has a privilege on ${relation.name}`);

      await client.query('BEGIN');
      try {
        await client.query('SET LOCAL ROLE onevault_app');
        await assert.rejects(client.query(`SELECT 1 FROM ${relation.name} LIMIT 1`), (error) => sqlstateOf(error) === SQLSTATE_INSUFFICIENT_PRIVILEGE, relation.name);
      } finally {
        await client.query('ROLLBACK');
      }
    }
  });

  it('app role registers but cannot list', async () => {
    const client = database.client;
    await client.query('SET ROLE onevault_app');
    try {
      const registered = await registerTenant(client, validRequest());
      assert.equal(registered.success, true, JSON.stringify(registered));
      await assert.rejects(listTenants(client), (error) => (error as { code?: string }).code === 'INSUFFICIENT_PRIVILEGE');
    } finally {
      await client.query('RESET ROLE');
    }
  });

  it('system operations role lists tenants', async () => {
    const client = database.client;
    await client.query('SET ROLE onevault_system_operations');
    try {
      const response = await listTenants(client);
      assert.equal(response.success, true, JSON.stringify(response));
      assert.ok(response.success && response.data.tenants.some((tenant) => tenant.tenant_id === SYSTEM_TENANT_HK_HEX));
    } finally {
      await client.query('RESET ROLE');
    }
  });
});
