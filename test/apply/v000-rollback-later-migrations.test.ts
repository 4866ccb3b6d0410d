import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import type { Client, DatabaseError } from 'pg';

import { rollback } from '../../src/apply/rollback';
import { MIGRATIONS_DIR } from '../helpers/cli';
import { withFreshDatabase } from '../helpers/database';
import { deployAll, runPsqlFile } from '../helpers/platform';

const V000_ROLLBACK = path.join(MIGRATIONS_DIR, 'V000__rollback_platform_foundation.sql');
const V001_ROLLBACK = path.join(MIGRATIONS_DIR, 'V001__rollback_system_operations_tenant.sql');
const V002_ROLLBACK = path.join(MIGRATIONS_DIR, 'V002__rollback_tenant_registration.sql');

const ROLL_BACK_LATER_FIRST = 'roll back V002 and V001 first (onevault rollback --all, which runs them in order)';

/** Returns the platform schemas present, the api function count, whether the V001 function exists, and the migration log row count. */
async function platformState(client: Client): Promise<string> {
  const result = await client.query<{ state: string }>(
    `SELECT (SELECT string_agg(nspname, ',' ORDER BY nspname)
             FROM pg_namespace
             WHERE nspname IN ('api', 'auth', 'raw', 'staging', 'audit', 'util'))
            || '|' || (SELECT count(*) FROM pg_proc WHERE pronamespace = 'api'::regnamespace)
            || '|' || (to_regprocedure('util.get_system_operations_tenant_hk()') IS NOT NULL)
            || '|' || (SELECT count(*) FROM util.migration_log) AS state`,
  );
  return result.rows[0].state;
}

/**
 * Sends the V000 rollback file as one simple-protocol query, optionally forced, and returns the
 * error it raised. The failed transaction is rolled back so that the client can go on.
 */
async function runRejectedV000Rollback(client: Client, force: boolean): Promise<DatabaseError> {
  const sql = await fs.readFile(V000_ROLLBACK, 'utf8');
  await client.query(`SET onevault.force_rollback = '${force ? 'on' : 'off'}'`);
  try {
    await client.query(sql);
  } catch (error) {
    await client.query('ROLLBACK');
    return error as DatabaseError;
  } finally {
    await client.query('RESET onevault.force_rollback');
  }
  assert.fail('the V000 rollback should have been rejected');
}

describe('V000 rollback with later migrations applied', () => {
  it('forced rollback rejected with V002', async () => {
    await withFreshDatabase(async (client) => {
      await deployAll(client, 'V002');
      const before = await platformState(client);

      const error = await runRejectedV000Rollback(client, true);

      assert.equal(error.code, '2BP01');
      assert.match(error.message, /util\.get_system_operations_tenant_hk\(\) \(V001\)/);
      assert.match(error.message, /api\.tenant_register\(jsonb\) \(V002\)/);
      assert.ok(error.message.includes(ROLL_BACK_LATER_FIRST), error.message);
      assert.match(error.hint ?? '', /does not override/);
      assert.equal(await platformState(client), before);
    });
  });

  it('unforced hint does not suggest forcing', async () => {
    await withFreshDatabase(async (client) => {
      await deployAll(client, 'V002');

      const error = await runRejectedV000Rollback(client, false);

      assert.equal(error.code, '2BP01');
      assert.ok(error.message.includes(ROLL_BACK_LATER_FIRST), error.message);
      assert.doesNotMatch(error.hint ?? '', /force_rollback to on|force_rollback=on|force_rollback = 'on'/);
    });
  });

  it('psql with PGOPTIONS force keeps every schema', async () => {
    await withFreshDatabase(async (client, url) => {
      await deployAll(client, 'V002');
      const before = await platformState(client);

      const result = await runPsqlFile(url, V000_ROLLBACK, { PGOPTIONS: '-c onevault.force_rollback=on' });

      assert.match(result.stderr, /ERROR: {2}Rollback V000 rejected: objects of later migrations are present/);
      assert.ok(result.stderr.includes(ROLL_BACK_LATER_FIRST), result.stderr);
      assert.equal(await platformState(client), before);
    });
  });

  it('forced rollback rejected with V001 only', async () => {
    await withFreshDatabase(async (client, url) => {
      await deployAll(client, 'V002');
      const v002 = await runPsqlFile(url, V002_ROLLBACK);
      assert.doesNotMatch(v002.stderr, /ERROR/);

      const error = await runRejectedV000Rollback(client, true);

      assert.equal(error.code, '2BP01');
      assert.match(error.message, /util\.get_system_operations_tenant_hk\(\) \(V001\)/);
      assert.doesNotMatch(error.message, /\(V002\)/);
      const schemas = await client.query("SELECT count(*)::int AS count FROM pg_namespace WHERE nspname IN ('api', 'auth', 'raw', 'staging', 'audit')");
      assert.equal(schemas.rows[0].count, 5);
    });
  });

  it('forced rollback runs after V002 and V001', async () => {
    await withFreshDatabase(async (client, url) => {
      await deployAll(client, 'V002');
      assert.doesNotMatch((await runPsqlFile(url, V002_ROLLBACK)).stderr, /ERROR/);
      assert.doesNotMatch((await runPsqlFile(url, V001_ROLLBACK)).stderr, /ERROR/);

      const result = await runPsqlFile(url, V000_ROLLBACK, { PGOPTIONS: '-c onevault.force_rollback=on' });

      assert.doesNotMatch(result.stderr, /ERROR/);
      const auth = await client.query("SELECT to_regnamespace('auth') AS auth");
      assert.equal(auth.rows[0].auth, null);
    });
  });

  it('rollback --all succeeds with V002 applied', async () => {
    await withFreshDatabase(async (client) => {
      await deployAll(client, 'V002');

      const report = await rollback(client, { migrationsDir: MIGRATIONS_DIR, all: true });

      assert.equal(report.error, undefined);
      assert.deepEqual(report.outcomes.map((outcome) => outcome.version), ['V002', 'V001', 'V000']);
      const auth = await client.query("SELECT to_regnamespace('auth') AS auth");
      assert.equal(auth.rows[0].auth, null);
    });
  });
});
