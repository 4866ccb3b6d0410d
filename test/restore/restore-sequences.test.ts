import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { runCli } from '../helpers/cli';
import { withFreshDatabase } from '../helpers/database';

const PASSWORD = 'Sup3rSecretPW!f1';

describe('onevault restore and sequences', () => {
  it('registration works after a restore', async () => {
    await withFreshDatabase(async (client, url) => {
      const cli = (args: readonly string[], input?: string) => runCli(['--database-url', url, ...args], { input });
      assert.equal((await cli(['deploy'])).code, 0);
      for (const name of ['Acorp', 'Bcorp', 'Ccorp']) {
        const registered = await cli(['tenant', 'register', '--password-stdin', '--name', name, '--admin-email', `admin@${name.toLowerCase()}.example`], PASSWORD);
        assert.equal(registered.code, 0, registered.stderr);
      }

      assert.equal((await cli(['rollback', '--yes', '--force'])).code, 0);
      // The redeploy leaves the identity sequences where the rollback found them, below the restored ids.
      await client.query(`SELECT setval(pg_get_serial_sequence('raw.tenant_registration_r', 'raw_registration_id'), 1, false)`);
      assert.equal((await cli(['deploy'])).code, 0);
      const schema = (await client.query(`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'onevault\\_backup\\_v002\\_%'`)).rows[0].nspname as string;
      const restored = await cli(['restore', schema]);
      assert.equal(restored.code, 0, restored.stderr);

      const highest = await client.query(`SELECT max(raw_registration_id)::int AS id FROM raw.tenant_registration_r`);
      const sequence = await client.query(`SELECT last_value::int AS id FROM raw.tenant_registration_r_raw_registration_id_seq`);
      assert.ok(sequence.rows[0].id >= highest.rows[0].id, `sequence at ${sequence.rows[0].id}, highest restored id ${highest.rows[0].id}`);

      const next = await cli(['tenant', 'register', '--password-stdin', '--name', 'After Restore', '--admin-email', 'ar@after.example'], PASSWORD);
      assert.equal(next.code, 0, next.stdout + next.stderr);
    });
  });
});
