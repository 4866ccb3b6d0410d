import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { deploy } from '../../src/apply/deploy';
import { rollback } from '../../src/apply/rollback';
import { OnevaultError } from '../../src/errors';
import { lintPaths } from '../../src/lint/lint';
import { createMigrationPair } from '../../src/new/new-migration';
import { restoreBackup } from '../../src/restore/restore';
import { verifyMigrations } from '../../src/verify/verify';
import { MIGRATIONS_DIR } from '../helpers/cli';
import { adminUrl, withFreshDatabase } from '../helpers/database';

/** Copies the platform migrations into a new temporary folder. */
async function platformFolder(): Promise<string> {
  const folder = await fs.mkdtemp(path.join(os.tmpdir(), 'onevault-new-'));
  for (const name of await fs.readdir(MIGRATIONS_DIR)) await fs.copyFile(path.join(MIGRATIONS_DIR, name), path.join(folder, name));
  return folder;
}

describe('onevault new', () => {
  let folder: string;
  let version: string;

  before(async () => {
    folder = await platformFolder();
    const result = await createMigrationPair({ migrationsDir: folder, name: 'maintenance_window' });
    version = result.version;
  });

  after(async () => {
    await fs.rm(folder, { recursive: true, force: true });
  });

  it('writes the next version pair', async () => {
    const platformCount = (await fs.readdir(MIGRATIONS_DIR)).length / 2;
    assert.equal(version, `V${String(platformCount).padStart(3, '0')}`);
    const files = await fs.readdir(folder);
    assert.ok(files.includes(`${version}__create_maintenance_window.sql`));
    assert.ok(files.includes(`${version}__rollback_maintenance_window.sql`));
  });

  it('passes lint as generated', async () => {
    const report = await lintPaths([folder]);
    const findings = report.files.flatMap((file) => file.findings.map((finding) => `${file.path}:${finding.line} ${finding.code} ${finding.message}`));
    assert.deepEqual(findings, []);
  });

  it('passes verify as generated', async () => {
    const report = await verifyMigrations({ adminUrl: adminUrl(), migrationsDir: folder, from: version, scratchDatabasePrefix: 'onevault_test_new_' });
    const failures = report.migrations.flatMap((proof) => proof.steps.filter((step) => step.status !== 'PASSED').map((step) => `${proof.version} ${step.step}: ${step.status} ${step.error?.message ?? ''}`));
    assert.deepEqual(failures, []);
    assert.equal(report.status, 'PASSED');
  });

  it('rollback refuses foreign rows, then backs up', async () => {
    await withFreshDatabase(async (client) => {
      assert.equal((await deploy(client, { migrationsDir: folder })).error, undefined);
      await client.query(`INSERT INTO util.maintenance_window_r (code, description) VALUES ('NIGHTLY', 'added by an operator')`);

      const refused = await rollback(client, { migrationsDir: folder });
      assert.equal(refused.error?.code, 'ROLLBACK_BLOCKED');
      assert.match(refused.error?.message ?? '', /'NIGHTLY'/);
      assert.equal((await client.query(`SELECT count(*)::int AS n FROM util.maintenance_window_r`)).rows[0].n, 2);

      const forced = await rollback(client, { migrationsDir: folder, force: true });
      assert.equal(forced.error, undefined);
      assert.equal((await client.query(`SELECT to_regclass('util.maintenance_window_r') AS t`)).rows[0].t, null);
      const schema = (await client.query(`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'onevault\\_backup\\_${version.toLowerCase()}\\_%'`)).rows[0]?.nspname as string;
      assert.ok(schema, 'the forced rollback made no backup schema');

      assert.equal((await deploy(client, { migrationsDir: folder })).error, undefined);
      const restored = await restoreBackup(client, { backupSchema: schema });
      assert.ok(restored, 'restore returned no report');
      const rows = await client.query(`SELECT code FROM util.maintenance_window_r ORDER BY code`);
      assert.deepEqual(rows.rows.map((row) => row.code), ['ENABLED', 'NIGHTLY']);
    });
  });

  it('rejects an invalid name', async () => {
    for (const name of ['Maintenance', '1window', 'two__underscores', 'x'.repeat(41), 'drop;table']) {
      await assert.rejects(createMigrationPair({ migrationsDir: folder, name }), (error: unknown) => error instanceof OnevaultError && error.code === 'INVALID_ARGUMENT', name);
    }
  });

  it('rejects a taken name', async () => {
    await assert.rejects(createMigrationPair({ migrationsDir: folder, name: 'maintenance_window' }), (error: unknown) => error instanceof OnevaultError && /exists already/.test(error.message));
  });

  it('rejects a missing or empty folder', async () => {
    await assert.rejects(createMigrationPair({ migrationsDir: path.join(folder, 'no-such-folder'), name: 'a' }), (error: unknown) => error instanceof OnevaultError && error.code === 'MIGRATIONS_DIR_NOT_FOUND');
    const empty = await fs.mkdtemp(path.join(os.tmpdir(), 'onevault-new-empty-'));
    try {
      await assert.rejects(createMigrationPair({ migrationsDir: empty, name: 'a' }), (error: unknown) => error instanceof OnevaultError && /contains no migrations/.test(error.message));
    } finally {
      await fs.rm(empty, { recursive: true, force: true });
    }
  });
});
