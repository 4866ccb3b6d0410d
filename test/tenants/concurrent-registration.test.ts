import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Pool } from 'pg';

import { registerTenant, type ApiFailure, type RegisteredTenant } from '../../src/tenants';
import { openSharedDatabase, scalar, uniqueTenantName, validRequest, type SharedDatabase } from './fixtures';

const CONCURRENT_REGISTRATIONS = 50;
/** Enough connections that every registration waits on the server, not on the pool. */
const POOL_SIZE = 10;
const THROUGHPUT_REGISTRATIONS = 20;

describe('concurrent tenant registration', () => {
  let database: SharedDatabase;

  before(async () => {
    database = await openSharedDatabase();
  });

  after(async () => {
    await database?.close();
  });

  it('registers 50 distinct tenants at once', async () => {
    const pool = new Pool({ connectionString: database.url, max: POOL_SIZE });
    try {
      const auditEventsBefore = Number(await scalar<string>(database.client, `SELECT count(*) FROM audit.audit_detail_s WHERE event_type = 'TENANT_REGISTRATION'`));
      const names = Array.from({ length: CONCURRENT_REGISTRATIONS }, () => uniqueTenantName('Concurrent'));

      const responses = await Promise.all(names.map((name) => registerTenant(pool, validRequest({ tenant_name: name }))));

      const failures = responses.filter((response) => !response.success);
      assert.deepEqual(failures, []);
      const tenants = responses.map((response) => (response as { data: RegisteredTenant }).data);
      assert.equal(new Set(tenants.map((tenant) => tenant.tenant_id)).size, CONCURRENT_REGISTRATIONS);
      assert.equal(new Set(tenants.map((tenant) => tenant.admin_user_id)).size, CONCURRENT_REGISTRATIONS);
      assert.equal(new Set(tenants.flatMap((tenant) => tenant.roles.map((role) => role.role_id))).size, 2 * CONCURRENT_REGISTRATIONS);
      assert.equal(new Set(tenants.map((tenant) => tenant.request_id)).size, CONCURRENT_REGISTRATIONS);

      const events = await database.client.query<{ count: string; keys: string }>(
        `SELECT count(*) AS count, count(DISTINCT audit_event_hk) AS keys
         FROM audit.audit_detail_s
         WHERE event_type = 'TENANT_REGISTRATION' AND outcome = 'SUCCESS'`,
      );
      assert.equal(Number(events.rows[0].count) - auditEventsBefore, CONCURRENT_REGISTRATIONS);
      assert.equal(Number(events.rows[0].keys), Number(events.rows[0].count));

      const hubs = await scalar<string>(database.client, `SELECT count(*) FROM auth.tenant_h WHERE tenant_bk LIKE 'CONCURRENT %'`);
      assert.equal(Number(hubs), CONCURRENT_REGISTRATIONS);
    } finally {
      await pool.end();
    }
  });

  it('lets one of five same-name registrations win', async () => {
    const pool = new Pool({ connectionString: database.url, max: 5 });
    try {
      const name = uniqueTenantName('Race');

      const responses = await Promise.all(Array.from({ length: 5 }, () => registerTenant(pool, validRequest({ tenant_name: name }))));

      assert.equal(responses.filter((response) => response.success).length, 1);
      for (const failure of responses.filter((response) => !response.success) as ApiFailure[]) {
        assert.equal(failure.error_code, 'VALIDATION_FAILED');
        assert.deepEqual(failure.errors.map((error) => `${error.field}.${error.rule}`), ['tenant_name.not_registered']);
        const raw = await scalar<string>(database.client, 'SELECT status FROM raw.tenant_registration_r WHERE raw_registration_id = $1', [failure.request_id]);
        assert.equal(raw, 'FAILED');
      }
      const hubs = await scalar<string>(database.client, 'SELECT count(*) FROM auth.tenant_h WHERE tenant_bk = upper($1)', [name]);
      assert.equal(Number(hubs), 1);
    } finally {
      await pool.end();
    }
  });

  it('measures throughput on two connections', async (context) => {
    const pool = new Pool({ connectionString: database.url, max: 2 });
    try {
      const names = Array.from({ length: THROUGHPUT_REGISTRATIONS }, () => uniqueTenantName('Throughput'));
      await registerTenant(pool, validRequest({ tenant_name: uniqueTenantName('Warm up') }));

      const started = process.hrtime.bigint();
      const responses = await Promise.all(names.map((name) => registerTenant(pool, validRequest({ tenant_name: name }))));
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;

      assert.ok(responses.every((response) => response.success));
      context.diagnostic(`${THROUGHPUT_REGISTRATIONS} registrations on 2 connections in ${seconds.toFixed(2)} s: ${(THROUGHPUT_REGISTRATIONS / seconds).toFixed(1)} per second (bcrypt cost 10)`);
    } finally {
      await pool.end();
    }
  });
});
