import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';

import { loadMigrations } from '../../src/migrations/catalog';
import { MIGRATIONS_DIR, runCli } from '../helpers/cli';
import { adminUrl, databaseUrl, withFreshDatabase } from '../helpers/database';

async function migrationsFolder(files: Record<string, string>): Promise<string> {
  const folder = await fs.mkdtemp(path.join(os.tmpdir(), 'onevault-cli-'));
  for (const [name, sql] of Object.entries(files)) await fs.writeFile(path.join(folder, name), sql);
  return folder;
}

describe('onevault deploy', () => {
  it('deploys, reports and exits 0', async () => {
    await withFreshDatabase(async (_client, url) => {
      const result = await runCli(['deploy', '--database-url', url]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /🎉 Migration V001 completed successfully!/);
      assert.match(result.stdout, /\+ V000 platform_foundation \.+ ok \(/);
      assert.match(result.stdout, /\+ V001 system_operations_tenant \.+ ok \(/);
      const count = (await loadMigrations(MIGRATIONS_DIR)).length;
      assert.match(result.stdout, new RegExp(`deploy: ${count} applied, 0 failed, 0 not run, 0 unchanged`));

      const again = await runCli(['deploy', '--database-url', url]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /Nothing to deploy/);
    });
  });

  it('prints JSON with --json', async () => {
    await withFreshDatabase(async (_client, url) => {
      const result = await runCli(['deploy', '--json', '--database-url', url]);
      assert.equal(result.code, 0, result.stderr);
      const report = JSON.parse(result.stdout);
      assert.equal(report.direction, 'FORWARD');
      const expected = (await loadMigrations(MIGRATIONS_DIR)).map((migration) => `${migration.version} applied`);
      assert.deepEqual(report.outcomes.map((outcome: { version: string; status: string }) => `${outcome.version} ${outcome.status}`), expected);
      assert.ok(report.outcomes[1].notices.includes('🎉 Migration V001 completed successfully!'));
    });
  });

  it('reads the package DB variables', async () => {
    await withFreshDatabase(async (_client, url) => {
      const parsed = new URL(url);
      const result = await runCli(['deploy', '--to', 'V000'], {
        env: {
          DB_HOST: parsed.hostname,
          DB_PORT: parsed.port || '5432',
          DB_NAME: decodeURIComponent(parsed.pathname.slice(1)),
          DB_USER: decodeURIComponent(parsed.username),
          DB_PASSWORD: decodeURIComponent(parsed.password),
        },
      });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /deploy: 1 applied/);
    });
  });

  it('fails with exit 1 and a FAILED record', async () => {
    await withFreshDatabase(async (client, url) => {
      const folder = await migrationsFolder({
        'V000__create_a.sql': 'BEGIN;\nCREATE SCHEMA IF NOT EXISTS util;\nCREATE TABLE IF NOT EXISTS util.migration_log (migration_log_id bigint GENERATED ALWAYS AS IDENTITY, run_id uuid, version text, name text, direction text, status text, started_at timestamptz, finished_at timestamptz, executed_by text DEFAULT session_user, executed_via text, checksum text, error_message text, error_detail jsonb, details jsonb);\nSELECT missing_column FROM util.migration_log;\nCOMMIT;\n',
        'V000__rollback_a.sql': 'SELECT 1;\n',
      });
      try {
        const result = await runCli(['deploy', '--database-url', url, '--migrations', folder]);
        assert.equal(result.code, 1);
        assert.match(result.stderr, /error MIGRATION_FAILED: Migration V000 \(V000__create_a\.sql\) failed at line 4, column 8: column "missing_column" does not exist/);
        assert.match(result.stdout, /\+ V000 a \.+ not ok/);
        // The log table was created by the failed transaction, so it is gone and nothing could be recorded.
        assert.equal((await client.query(`SELECT to_regclass('util.migration_log') AS t`)).rows[0].t, null);
      } finally {
        await fs.rm(folder, { recursive: true, force: true });
      }
    });
  });

  it('rejects a folder with a gap', async () => {
    const folder = await migrationsFolder({ 'V000__create_a.sql': 'SELECT 1;', 'V000__rollback_a.sql': 'SELECT 1;', 'V002__create_c.sql': 'SELECT 1;', 'V002__rollback_c.sql': 'SELECT 1;' });
    try {
      const result = await runCli(['deploy', '--database-url', 'postgres://postgres@127.0.0.1:1/none', '--migrations', folder]);
      assert.equal(result.code, 2);
      assert.match(result.stderr, /error MIGRATION_VERSION_GAP: .*jump from V000 to V002/);
    } finally {
      await fs.rm(folder, { recursive: true, force: true });
    }
  });

  it('rejects an unpaired file', async () => {
    const folder = await migrationsFolder({ 'V000__create_a.sql': 'SELECT 1;' });
    try {
      const result = await runCli(['deploy', '--database-url', 'postgres://postgres@127.0.0.1:1/none', '--migrations', folder]);
      assert.equal(result.code, 2);
      assert.match(result.stderr, /error MIGRATION_UNPAIRED: .*V000__rollback_a\.sql is missing/);
      assert.match(result.stderr, /hint: /);
    } finally {
      await fs.rm(folder, { recursive: true, force: true });
    }
  });

  it('reports an unreachable server', async () => {
    const result = await runCli(['status', '--database-url', 'postgres://postgres@127.0.0.1:1/one_vault']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /error CONNECTION_REFUSED: No PostgreSQL server answered at postgres:\/\/postgres@127\.0\.0\.1:1\/one_vault/);
    assert.match(result.stderr, /hint: Start the server/);
  });

  it('offers to create a missing database', async () => {
    const name = `onevault_test_missing_${process.pid}_${Date.now()}`;
    const url = databaseUrl(adminUrl(), name);
    const missing = await runCli(['deploy', '--database-url', url]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /error DATABASE_NOT_FOUND: /);
    assert.match(missing.stderr, /--create-database/);

    const created = await runCli(['deploy', '--to', 'V000', '--create-database', '--database-url', url]);
    try {
      assert.equal(created.code, 0, created.stderr);
    } finally {
      const { Client } = await import('pg');
      const admin = new Client({ connectionString: adminUrl() });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.end();
    }
  });

  it('rejects an invalid duration', async () => {
    const result = await runCli(['deploy', '--lock-timeout', 'soon', '--database-url', 'postgres://postgres@127.0.0.1:1/x']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /error INVALID_ARGUMENT: --lock-timeout "soon" is not a duration/);
  });
});

describe('onevault rollback', () => {
  it('needs --yes without a terminal', async () => {
    await withFreshDatabase(async (_client, url) => {
      const result = await runCli(['rollback', '--database-url', url]);
      assert.equal(result.code, 2);
      assert.match(result.stderr, /error CONFIRMATION_REQUIRED: .*--yes|hint: Add --yes/s);
    });
  });

  it('rolls back the latest migration', async () => {
    await withFreshDatabase(async (_client, url) => {
      assert.equal((await runCli(['deploy', '--to', 'V001', '--database-url', url])).code, 0);
      const result = await runCli(['rollback', '--yes', '--database-url', url]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /- V001 system_operations_tenant \.+ ok/);
      assert.match(result.stdout, /rollback: 1 rolled back, 0 failed/);

      const status = await runCli(['status', '--json', '--database-url', url]);
      const report = JSON.parse(status.stdout);
      const states = report.migrations.map((migration: { version: string; state: string }) => `${migration.version} ${migration.state}`);
      assert.deepEqual(states.slice(0, 2), ['V000 applied', 'V001 rolled back']);
      assert.ok(states.slice(2).every((state: string) => state.endsWith(' pending')), states.join(', '));
    });
  });
});

describe('onevault status', () => {
  it('shows pending, applied and psql runs', async () => {
    await withFreshDatabase(async (_client, url) => {
      const pending = await runCli(['status', '--database-url', url]);
      assert.equal(pending.code, 0, pending.stderr);
      assert.match(pending.stdout, /V000\s+platform_foundation\s+pending/);

      const { execFileSync } = await import('node:child_process');
      execFileSync('psql', ['-X', '-q', '-d', url, '-f', path.join(MIGRATIONS_DIR, 'V000__create_platform_foundation.sql')], { stdio: 'pipe' });
      const applied = await runCli(['status', '--database-url', url]);
      assert.match(applied.stdout, /V000\s+platform_foundation\s+applied\s+\S+\s+\S+ via psql\s+not recorded \(psql run\)/);
      assert.match(applied.stdout, /V001\s+system_operations_tenant\s+pending/);
    });
  });

  it('reports checksum drift', async () => {
    await withFreshDatabase(async (_client, url) => {
      const folder = await fs.mkdtemp(path.join(os.tmpdir(), 'onevault-drift-'));
      try {
        for (const name of await fs.readdir(MIGRATIONS_DIR)) await fs.copyFile(path.join(MIGRATIONS_DIR, name), path.join(folder, name));
        assert.equal((await runCli(['deploy', '--to', 'V000', '--database-url', url, '--migrations', folder])).code, 0);
        await fs.appendFile(path.join(folder, 'V000__create_platform_foundation.sql'), '\n-- edited after deploy\n');

        const status = await runCli(['status', '--database-url', url, '--migrations', folder]);
        assert.equal(status.code, 1);
        assert.match(status.stdout, /V000\s+platform_foundation\s+applied.*mismatch/);

        const deploy = await runCli(['deploy', '--database-url', url, '--migrations', folder]);
        assert.equal(deploy.code, 1);
        assert.match(deploy.stderr, /error CHECKSUM_MISMATCH: V000__create_platform_foundation\.sql changed after it was applied: recorded checksum [0-9a-f]{64}, file checksum [0-9a-f]{64}/);
      } finally {
        await fs.rm(folder, { recursive: true, force: true });
      }
    });
  });
});

describe('onevault --help', () => {
  it('shows an example per command', async () => {
    for (const command of ['deploy', 'rollback', 'status', 'db']) {
      const result = await runCli([command, '--help']);
      assert.equal(result.code, 0, `${command} --help: ${result.stderr}`);
      assert.match(result.stdout, /Examples?:\n\s+\$ onevault/, `${command} --help has no example`);
    }
  });

  it('exits 2 on an unknown option', async () => {
    const result = await runCli(['deploy', '--no-such-option']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /unknown option '--no-such-option'/);
  });
});
