import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { Client } from 'pg';

import { runCli } from '../helpers/cli';
import { withFreshDatabase } from '../helpers/database';

/** Tables whose rows a forced V002 rollback removes, and that onevault restore puts back. */
const TENANT_TABLES = [
  'auth.tenant_h',
  'auth.tenant_profile_s',
  'auth.role_h',
  'auth.role_profile_s',
  'auth.user_h',
  'auth.user_profile_s',
  'auth.user_auth_s',
  'auth.user_role_l',
  'raw.tenant_registration_r',
  'staging.tenant_registration_s',
] as const;

const PASSWORD = 'Sup3rSecretPW!f1';

async function countRows(client: Client): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of TENANT_TABLES) {
    const result = await client.query<{ count: string }>(`SELECT count(*) AS count FROM ${table}`);
    counts[table] = Number(result.rows[0].count);
  }
  return counts;
}

async function v002BackupSchemas(client: Client): Promise<string[]> {
  const result = await client.query<{ nspname: string }>(`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'onevault\\_backup\\_v002\\_%' ORDER BY nspname`);
  return result.rows.map((row) => row.nspname);
}

describe('onevault restore of a V002 backup', () => {
  it('restores a forced V002 rollback', async () => {
    await withFreshDatabase(async (client, url) => {
      const cli = (args: readonly string[], input?: string) => runCli(['--database-url', url, ...args], { input });

      const deployed = await cli(['deploy']);
      assert.equal(deployed.code, 0, deployed.stderr);
      const registered = await cli(['tenant', 'register', '--password-stdin', '--name', 'Fcorp', '--admin-email', 'f@f.example'], PASSWORD);
      assert.equal(registered.code, 0, registered.stderr);
      const before = await countRows(client);

      const rolledBack = await cli(['rollback', '--yes', '--force']);
      assert.equal(rolledBack.code, 0, rolledBack.stderr);
      assert.equal((await countRows(client))['auth.tenant_h'], 1, 'only the System Operations tenant is left');
      const schemas = await v002BackupSchemas(client);
      assert.equal(schemas.length, 1);
      assert.match(schemas[0], /^onevault_backup_v002_\d{14}_[0-9a-f]{8}$/);
      assert.match(rolledBack.stdout, /Restore statements/);

      const redeployed = await cli(['deploy']);
      assert.equal(redeployed.code, 0, redeployed.stderr);
      const restored = await cli(['restore', schemas[0]]);

      assert.equal(restored.code, 0, restored.stderr);
      assert.deepEqual(await countRows(client), before);
      const shown = await cli(['tenant', 'show', 'Fcorp']);
      assert.equal(shown.code, 0, shown.stderr);
      assert.match(shown.stdout, /^name: +Fcorp$/m);
      assert.match(shown.stdout, /f@f\.example/);

      const again = await cli(['restore', schemas[0]]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout + again.stderr, /\b0 rows inserted\b/);
      assert.deepEqual(await countRows(client), before);
    });
  });

  it('stores restore statements in the log', async () => {
    await withFreshDatabase(async (client, url) => {
      const cli = (args: readonly string[], input?: string) => runCli(['--database-url', url, ...args], { input });
      assert.equal((await cli(['deploy'])).code, 0);
      assert.equal((await cli(['tenant', 'register', '--password-stdin', '--name', 'Gcorp', '--admin-email', 'g@g.example'], PASSWORD)).code, 0);

      const rolledBack = await cli(['rollback', '--yes', '--force']);
      assert.equal(rolledBack.code, 0, rolledBack.stderr);

      const logged = await client.query<{ details: { backup_schema: string; row_counts: Record<string, number>; restore_statements: string[] } }>(
        `SELECT details FROM util.migration_log WHERE version = 'V002' AND direction = 'ROLLBACK' ORDER BY migration_log_id DESC LIMIT 1`,
      );
      const details = logged.rows[0].details;
      assert.deepEqual(await v002BackupSchemas(client), [details.backup_schema]);
      assert.equal(details.row_counts['auth.tenant_h'], 1);
      assert.equal(details.row_counts['auth.role_h'], 2);
      assert.equal(details.restore_statements.length, Object.keys(details.row_counts).length);
      assert.match(details.restore_statements[0], /^INSERT INTO raw\.tenant_registration_r OVERRIDING SYSTEM VALUE SELECT \* FROM /);
      for (const statement of details.restore_statements) assert.ok(rolledBack.stdout.includes(statement), statement);
    });
  });
});
