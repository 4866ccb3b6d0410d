import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Client } from 'pg';

import { registerTenant, type ApiResponse, type ApiFailure, type RegisteredTenant } from '../../src/tenants';
import { countAuthRows, countRows, openSharedDatabase, scalar, SYSTEM_TENANT_HK_HEX, tenantSchemaTables, validRequest, type SharedDatabase } from './fixtures';

function assertSuccess(response: ApiResponse<RegisteredTenant>): RegisteredTenant {
  assert.equal(response.success, true, `registration failed: ${JSON.stringify(response)}`);
  return (response as { data: RegisteredTenant }).data;
}

function assertFailure(response: ApiResponse<RegisteredTenant>): ApiFailure {
  assert.equal(response.success, false, `registration should have failed: ${JSON.stringify(response)}`);
  return response as ApiFailure;
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

let database: SharedDatabase | undefined;

/** Runs `work` on the suite's database and resets the session settings that tests change. */
async function withSharedClient(work: (client: Client) => Promise<void>): Promise<void> {
  assert.ok(database, 'the suite has no database');
  try {
    await work(database.client);
  } finally {
    await database.client.query('RESET ALL');
    await database.client.query('DROP TRIGGER IF EXISTS regw_inject_fault ON auth.user_auth_s');
  }
}

function openDatabaseAround(): void {
  before(async () => {
    database = await openSharedDatabase();
  });

  after(async () => {
    await database?.close();
    database = undefined;
  });
}

describe('tenant registration', () => {
  openDatabaseAround();

  it('creates exactly the expected rows', async () => {
    await withSharedClient(async (client) => {
      const tables = await tenantSchemaTables(client);
      const before = await countRows(client, tables);

      assertSuccess(await registerTenant(client, validRequest()));

      const after = await countRows(client, tables);
      const added = Object.fromEntries(tables.map((table) => [table, after[table] - before[table]]));
      const expected: Record<string, number> = Object.fromEntries(tables.map((table) => [table, 0]));
      Object.assign(expected, {
        'auth.tenant_h': 1,
        'auth.tenant_profile_s': 1,
        'auth.user_h': 1,
        'auth.user_profile_s': 1,
        'auth.user_auth_s': 1,
        'auth.role_h': 2,
        'auth.role_profile_s': 2,
        'auth.user_role_l': 1,
        'raw.tenant_registration_r': 1,
        'staging.tenant_registration_s': 1,
        'audit.audit_event_h': 1,
        'audit.audit_detail_s': 1,
      });
      assert.deepEqual(added, expected);
    });
  });

  it('stores an admin login that bcrypt verifies', async () => {
    await withSharedClient(async (client) => {
      const request = validRequest({ admin_email: 'Grace.Hopper@Example.com' });
      const tenant = assertSuccess(await registerTenant(client, request));

      const stored = await client.query<{ username: string; password_hash: string; correct: boolean; wrong: boolean }>(
        `SELECT username,
                password_hash,
                password_hash = public.crypt($2, password_hash) AS correct,
                password_hash = public.crypt($3, password_hash) AS wrong
         FROM auth.user_auth_s
         WHERE user_hk = decode($1, 'hex') AND load_end_date IS NULL`,
        [tenant.admin_user_id, request.admin_password, `${request.admin_password}x`],
      );
      assert.equal(stored.rowCount, 1);
      assert.equal(stored.rows[0].username, 'grace.hopper@example.com');
      assert.match(stored.rows[0].password_hash, /^\$2[abxy]\$10\$/);
      assert.equal(stored.rows[0].correct, true);
      assert.equal(stored.rows[0].wrong, false);
    });
  });

  it('answers with the keys of the stored rows', async () => {
    await withSharedClient(async (client) => {
      const tenant = assertSuccess(await registerTenant(client, validRequest({ tenant_name: '  Acme   Corp ' })));

      assert.equal(tenant.tenant_bk, 'ACME CORP');
      assert.equal(tenant.tenant_name, 'Acme Corp');
      assert.equal(tenant.tenant_id, sha256Hex('ACME CORP'));
      assert.deepEqual(tenant.roles.map((role) => role.role_bk), ['ADMINISTRATOR', 'USER']);
      assert.ok(tenant.roles.every((role) => role.permissions.length > 0));

      const adminLinks = await scalar<string>(
        client,
        `SELECT count(*)
         FROM auth.user_role_l AS link
         JOIN auth.role_h AS role ON role.role_hk = link.role_hk
         WHERE link.user_hk = decode($1, 'hex') AND link.tenant_hk = decode($2, 'hex') AND role.role_bk = 'ADMINISTRATOR'`,
        [tenant.admin_user_id, tenant.tenant_id],
      );
      assert.equal(Number(adminLinks), 1);

      const profile = await client.query(`SELECT tenant_name, tenant_status, is_active FROM auth.tenant_profile_s WHERE tenant_hk = decode($1, 'hex')`, [tenant.tenant_id]);
      assert.deepEqual(profile.rows, [{ tenant_name: 'Acme Corp', tenant_status: 'ACTIVE', is_active: true }]);
    });
  });

  it('lands the request under the system tenant without the password', async () => {
    await withSharedClient(async (client) => {
      const tenant = assertSuccess(await registerTenant(client, validRequest()));

      const raw = await client.query(`SELECT encode(tenant_hk, 'hex') AS tenant_hk, status, request_payload FROM raw.tenant_registration_r WHERE raw_registration_id = $1`, [tenant.request_id]);
      assert.equal(raw.rows[0].tenant_hk, SYSTEM_TENANT_HK_HEX);
      assert.equal(raw.rows[0].status, 'LOADED');
      assert.equal('admin_password' in raw.rows[0].request_payload, false);

      const staging = await client.query(`SELECT status, is_valid, validation_results FROM staging.tenant_registration_s WHERE raw_registration_id = $1`, [tenant.request_id]);
      assert.equal(staging.rows[0].status, 'LOADED');
      assert.equal(staging.rows[0].is_valid, true);
      const outcomes = staging.rows[0].validation_results as { outcome: string }[];
      assert.ok(outcomes.length >= 15, `only ${outcomes.length} rule outcomes recorded`);
      assert.ok(outcomes.every((outcome) => outcome.outcome === 'passed'));
    });
  });

  it('tenant key ignores time zone and clock', async () => {
    await withSharedClient(async (client) => {
      await client.query(`SET TimeZone = 'Pacific/Kiritimati'`);
      const east = assertSuccess(await registerTenant(client, validRequest({ tenant_name: 'East Wind' })));
      await client.query(`SET TimeZone = 'America/Adak'`);
      const west = assertSuccess(await registerTenant(client, validRequest({ tenant_name: 'West Wind' })));

      assert.equal(east.tenant_id, sha256Hex('EAST WIND'));
      assert.equal(west.tenant_id, sha256Hex('WEST WIND'));
      assert.match(east.registered_at, /Z$/);
    });
  });

  it('rejects the same name in other case and spacing', async () => {
    await withSharedClient(async (client) => {
      assertSuccess(await registerTenant(client, validRequest({ tenant_name: 'Northwind Traders' })));
      const authRows = await countAuthRows(client);

      const failure = assertFailure(await registerTenant(client, validRequest({ tenant_name: '  northwind   TRADERS ' })));

      assert.equal(failure.error_code, 'VALIDATION_FAILED');
      assert.deepEqual(failure.errors.map((error) => `${error.field}.${error.rule}`), ['tenant_name.not_registered']);
      assert.equal(await countAuthRows(client), authRows);
    });
  });

  it('honours a higher bcrypt cost setting', async () => {
    await withSharedClient(async (client) => {
      await client.query(`SET onevault.password_bcrypt_cost = '11'`);
      const tenant = assertSuccess(await registerTenant(client, validRequest()));
      const hash = await scalar<string>(client, `SELECT password_hash FROM auth.user_auth_s WHERE user_hk = decode($1, 'hex')`, [tenant.admin_user_id]);
      assert.match(hash, /^\$2[abxy]\$11\$/);
    });
  });

  it('rejects a bcrypt cost below 10', async () => {
    await withSharedClient(async (client) => {
      await client.query(`SET onevault.password_bcrypt_cost = '4'`);
      const authRows = await countAuthRows(client);

      const failure = assertFailure(await registerTenant(client, validRequest()));

      assert.equal(failure.error_code, 'CONFIGURATION_INVALID');
      assert.equal(await countAuthRows(client), authRows);
      const raw = await client.query(`SELECT status, error_code FROM raw.tenant_registration_r WHERE raw_registration_id = $1`, [failure.request_id]);
      assert.deepEqual(raw.rows, [{ status: 'FAILED', error_code: 'CONFIGURATION_INVALID' }]);
    });
  });
});

/** Database faults injected by a trigger on the credential table, so that they strike mid-load. */
const INJECTED_FAULTS = [
  { name: 'serialization failure', body: `RAISE EXCEPTION 'injected % fault', NEW.password_hash USING ERRCODE = 'serialization_failure'`, code: 'CONFLICT', sqlstate: '40001' },
  { name: 'deadlock', body: `RAISE EXCEPTION 'injected deadlock' USING ERRCODE = 'deadlock_detected'`, code: 'CONFLICT', sqlstate: '40P01' },
  { name: 'check violation', body: `RAISE EXCEPTION 'injected check' USING ERRCODE = 'check_violation', CONSTRAINT = 'secret_constraint_name'`, code: 'CONSTRAINT_VIOLATION', sqlstate: '23514' },
  { name: 'lock timeout', body: `RAISE EXCEPTION 'injected lock timeout' USING ERRCODE = 'lock_not_available'`, code: 'TIMEOUT', sqlstate: '55P03' },
  { name: 'internal error', body: `RAISE EXCEPTION 'injected division' USING ERRCODE = 'division_by_zero'`, code: 'INTERNAL_ERROR', sqlstate: '22012' },
] as const;

async function injectFault(client: Client, body: string): Promise<void> {
  await client.query(`CREATE OR REPLACE FUNCTION public.regw_inject_fault() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ${body}; RETURN NEW; END $$`);
  await client.query(`CREATE OR REPLACE TRIGGER regw_inject_fault BEFORE INSERT ON auth.user_auth_s FOR EACH ROW EXECUTE FUNCTION public.regw_inject_fault()`);
}

async function assertFailureRecorded(client: Client, failure: ApiFailure, code: string, password: string): Promise<void> {
  assert.ok(failure.request_id !== undefined, 'the failure has no request_id, so it was not recorded');

  const raw = await client.query(`SELECT status, error_code, status_reason FROM raw.tenant_registration_r WHERE raw_registration_id = $1`, [failure.request_id]);
  assert.equal(raw.rows[0].status, 'FAILED');
  assert.equal(raw.rows[0].error_code, code);
  assert.equal(raw.rows[0].status_reason.includes(password), false);

  const staging = await client.query(`SELECT status, error_code FROM staging.tenant_registration_s WHERE raw_registration_id = $1`, [failure.request_id]);
  assert.deepEqual(staging.rows, [{ status: 'FAILED', error_code: code }]);

  const events = await scalar<string>(
    client,
    `SELECT count(*) FROM audit.audit_detail_s
     WHERE event_type = 'TENANT_REGISTRATION' AND outcome = 'FAILURE' AND (details ->> 'request_id')::bigint = $1 AND details ->> 'error_code' = $2`,
    [failure.request_id, code],
  );
  assert.equal(Number(events), 1);
}

describe('tenant registration database faults', () => {
  openDatabaseAround();

  for (const fault of INJECTED_FAULTS) {
    it(`records ${fault.name} as FAILED`, async () => {
      await withSharedClient(async (client) => {
        await injectFault(client, fault.body);
        const request = validRequest();
        const authRows = await countAuthRows(client);

        const failure = assertFailure(await registerTenant(client, request));

        assert.equal(failure.error_code, fault.code);
        assert.deepEqual(failure.errors, []);
        assert.doesNotMatch(failure.message, /injected|secret_constraint_name|SQLSTATE|user_auth_s/);
        assert.equal(await countAuthRows(client), authRows);
        await assertFailureRecorded(client, failure, fault.code, request.admin_password);
        const reason = await scalar<string>(client, 'SELECT status_reason FROM raw.tenant_registration_r WHERE raw_registration_id = $1', [failure.request_id]);
        assert.match(reason, new RegExp(`SQLSTATE ${fault.sqlstate}`));
      });
    });
  }

  it('records a statement timeout as FAILED', async () => {
    await withSharedClient(async (client) => {
      await injectFault(client, 'PERFORM pg_sleep(5)');
      const request = validRequest();
      await client.query(`SET statement_timeout = '1500ms'`);

      const failure = assertFailure(await registerTenant(client, request));

      await client.query('RESET statement_timeout');
      assert.equal(failure.error_code, 'TIMEOUT');
      await assertFailureRecorded(client, failure, 'TIMEOUT', request.admin_password);
    });
  });

  it('withholds an error message quoting the password', async () => {
    await withSharedClient(async (client) => {
      const request = validRequest({ admin_password: 'leaky password 1234' });
      await injectFault(client, `RAISE EXCEPTION 'injected: %', (SELECT 'leaky password 1234') USING ERRCODE = 'serialization_failure'`);

      const failure = assertFailure(await registerTenant(client, request));

      const reason = await scalar<string>(client, 'SELECT status_reason FROM raw.tenant_registration_r WHERE raw_registration_id = $1', [failure.request_id]);
      assert.doesNotMatch(reason, /leaky password/);
      assert.match(reason, /withheld/);
    });
  });
});
