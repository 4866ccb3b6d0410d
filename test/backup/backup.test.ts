import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { Client } from 'pg';

import { findPostgresTool } from '../../src/backup/find-postgres-tool';
import { takeBackup, type BackupReport } from '../../src/backup/take-backup';
import { OnevaultError } from '../../src/errors';
import { diffFingerprints, formatDifferences, takeFingerprint } from '../../src/fingerprint';
import { loadMigrations } from '../../src/migrations/catalog';
import { MIGRATIONS_DIR, runCli } from '../helpers/cli';
import { adminUrl, databaseUrl } from '../helpers/database';
import { DeployedTemplate, runAdmin, uniqueDatabaseName } from '../deployment-tests/deployed-template';

const execFileAsync = promisify(execFile);

/** Writes an executable shell script that replaces a PostgreSQL client program in a test. */
async function writeFakeTool(folder: string, name: string, body: string): Promise<void> {
  const file = path.join(folder, name);
  await fs.writeFile(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
}

describe('backup', () => {
  let template: DeployedTemplate;
  let workDir: string;
  before(async () => {
    template = await DeployedTemplate.create('backup');
    workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'onevault-backup-test-'));
  });
  after(async () => {
    await template?.drop();
    if (workDir) await fs.rm(workDir, { recursive: true, force: true });
  });

  test('backup restores with the same fingerprint', async () => {
    await template.withCopy('backup_src', async (client, url) => {
      await client.query(`INSERT INTO auth.tenant_h VALUES (util.hash_binary('ACME'), 'ACME', now(), 'test')`);
      const file = path.join(workDir, 'restore.dump');
      const report = await takeBackup(client, { config: { connectionString: url }, outFile: file });

      assert.equal(report.file, file);
      assert.ok(report.objectCount > 50, `only ${report.objectCount} archive entries`);
      assert.ok(report.tableDataCount >= 10, `only ${report.tableDataCount} TABLE DATA entries`);
      assert.equal(report.sizeBytes, (await fs.stat(file)).size);
      assert.equal(report.sha256, createHash('sha256').update(await fs.readFile(file)).digest('hex'));
      await assert.rejects(fs.stat(`${file}.partial`));

      const restored = uniqueDatabaseName('backup_restored');
      await runAdmin(`CREATE DATABASE "${restored}"`);
      try {
        const restoredUrl = databaseUrl(adminUrl(), restored);
        await execFileAsync('pg_restore', ['--exit-on-error', `--dbname=${restoredUrl}`, file]);
        const restoredClient = new Client({ connectionString: restoredUrl });
        await restoredClient.connect();
        try {
          const differences = diffFingerprints(await takeFingerprint(client), await takeFingerprint(restoredClient));
          assert.equal(differences.length, 0, formatDifferences(differences));
        } finally {
          await restoredClient.end();
        }
      } finally {
        await runAdmin(`DROP DATABASE IF EXISTS "${restored}" WITH (FORCE)`);
      }
    });
  });

  test('existing file is never overwritten', async () => {
    await template.withCopy('backup_exists', async (client, url) => {
      const file = path.join(workDir, 'exists.dump');
      await fs.writeFile(file, 'keep me');
      await assert.rejects(takeBackup(client, { config: { connectionString: url }, outFile: file }), (error: unknown) => {
        assert.ok(error instanceof OnevaultError);
        assert.equal(error.code, 'INVALID_ARGUMENT');
        assert.match(error.message, /already exists/);
        return true;
      });
      assert.equal(await fs.readFile(file, 'utf8'), 'keep me');
    });
  });

  test('failing pg_dump leaves no file', async () => {
    await template.withCopy('backup_fail', async (client, url) => {
      const tools = await fs.mkdtemp(path.join(workDir, 'failing-tools-'));
      await writeFakeTool(tools, 'pg_dump', 'if [ "$1" = "--version" ]; then echo "pg_dump (PostgreSQL) 99.0"; exit 0; fi\nfor a; do case "$a" in --file=*) echo partial > "${a#--file=}";; esac; done\necho "pg_dump: error: disk full" >&2\nexit 1');
      await writeFakeTool(tools, 'pg_restore', 'echo "pg_restore (PostgreSQL) 99.0"');
      const file = path.join(workDir, 'failed.dump');

      await assert.rejects(takeBackup(client, { config: { connectionString: url }, outFile: file, findTool: { versionedRoot: tools, searchPath: [tools] } }), (error: unknown) => {
        assert.ok(error instanceof OnevaultError);
        assert.equal(error.code, 'BACKUP_FAILED');
        assert.match(error.message, /disk full/);
        return true;
      });
      await assert.rejects(fs.stat(file));
      await assert.rejects(fs.stat(`${file}.partial`));
    });
  });

  test('unreadable archive fails verification', async () => {
    await template.withCopy('backup_verify', async (client, url) => {
      const tools = await fs.mkdtemp(path.join(workDir, 'bad-archive-tools-'));
      await writeFakeTool(tools, 'pg_dump', 'if [ "$1" = "--version" ]; then echo "pg_dump (PostgreSQL) 99.0"; exit 0; fi\nfor a; do case "$a" in --file=*) echo "not an archive" > "${a#--file=}";; esac; done');
      const file = path.join(workDir, 'unverified.dump');

      await assert.rejects(
        takeBackup(client, { config: { connectionString: url }, outFile: file, findTool: { versionedRoot: tools, searchPath: [tools, ...(process.env.PATH ?? '').split(':')] } }),
        (error: unknown) => {
          assert.ok(error instanceof OnevaultError);
          assert.equal(error.code, 'BACKUP_FAILED');
          assert.match(error.message, /could not be verified/);
          return true;
        },
      );
      await assert.rejects(fs.stat(file));
    });
  });

  test('old pg_dump is rejected naming the package', async () => {
    const tools = await fs.mkdtemp(path.join(workDir, 'old-tools-'));
    await writeFakeTool(tools, 'pg_dump', 'echo "pg_dump (PostgreSQL) 12.4"');
    await assert.rejects(findPostgresTool('pg_dump', 15, { versionedRoot: path.join(tools, 'none'), searchPath: [tools] }), (error: unknown) => {
      assert.ok(error instanceof OnevaultError);
      assert.equal(error.code, 'TOOL_NOT_FOUND');
      assert.match(error.message, /version 12/);
      assert.match(error.hint ?? '', /postgresql-client-15/);
      return true;
    });
  });

  test('versioned Debian folder is preferred', async () => {
    const root = await fs.mkdtemp(path.join(workDir, 'versioned-'));
    await fs.mkdir(path.join(root, '15', 'bin'), { recursive: true });
    await writeFakeTool(path.join(root, '15', 'bin'), 'pg_dump', 'echo "pg_dump (PostgreSQL) 15.7"');
    const found = await findPostgresTool('pg_dump', 15, { versionedRoot: root, searchPath: [] });
    assert.equal(found.path, path.join(root, '15', 'bin', 'pg_dump'));
    assert.equal(found.major, 15);
  });

  test('CLI prints size, object count and SHA-256', async () => {
    await template.withCopy('backup_cli', async (_client, url) => {
      const file = path.join(workDir, 'cli.dump');
      const result = await runCli(['--database-url', url, '--json', 'backup', '--out', file]);
      assert.equal(result.code, 0, result.stderr);
      const report = JSON.parse(result.stdout) as BackupReport;
      assert.equal(report.file, file);
      assert.equal(report.sha256, createHash('sha256').update(await fs.readFile(file)).digest('hex'));

      const text = await runCli(['--database-url', url, 'backup', '--out', path.join(workDir, 'cli-text.dump')]);
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /^size: +\d+ bytes$/m);
      assert.match(text.stdout, /^objects: +\d+ archive entries/m);
      assert.match(text.stdout, /^sha256: +[0-9a-f]{64}$/m);
    });
  });

  test('deploy --backup backs up before deploying', async () => {
    const database = uniqueDatabaseName('backup_deploy');
    await runAdmin(`CREATE DATABASE "${database}"`);
    try {
      const url = databaseUrl(adminUrl(), database);
      const file = path.join(workDir, 'before-deploy.dump');
      const result = await runCli(['--database-url', url, 'deploy', '--backup', file]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /^sha256: +[0-9a-f]{64}$/m);

      // The backup was taken before V000, so it contains no migration log.
      const { stdout } = await execFileAsync('pg_restore', ['--list', file]);
      assert.doesNotMatch(stdout, /migration_log/);
      const client = new Client({ connectionString: url });
      await client.connect();
      try {
        const runs = await client.query(`SELECT version FROM util.migration_log WHERE status = 'SUCCESS' ORDER BY migration_log_id`);
        const versions = (await loadMigrations(MIGRATIONS_DIR)).map((migration) => migration.version);
        assert.deepEqual(runs.rows.map((row) => row.version), versions);
      } finally {
        await client.end();
      }
    } finally {
      await runAdmin(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    }
  });

  test('deploy --backup --json includes the backup', async () => {
    const database = uniqueDatabaseName('backup_json');
    await runAdmin(`CREATE DATABASE "${database}"`);
    try {
      const url = databaseUrl(adminUrl(), database);
      const file = path.join(workDir, 'before-deploy-json.dump');
      const result = await runCli(['--database-url', url, 'deploy', '--json', '--backup', file]);
      assert.equal(result.code, 0, result.stderr);
      const report = JSON.parse(result.stdout) as { direction: string; backup: { file: string; sha256: string } };
      assert.equal(report.direction, 'FORWARD');
      assert.equal(report.backup.file, file);
      assert.match(report.backup.sha256, /^[0-9a-f]{64}$/);
    } finally {
      await runAdmin(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    }
  });

  test('deploy stops when the backup fails', async () => {
    const database = uniqueDatabaseName('backup_refuse');
    await runAdmin(`CREATE DATABASE "${database}"`);
    try {
      const url = databaseUrl(adminUrl(), database);
      const file = path.join(workDir, 'taken.dump');
      await fs.writeFile(file, 'an older backup');
      const result = await runCli(['--database-url', url, 'deploy', '--backup', file]);
      assert.equal(result.code, 2);
      assert.match(result.stderr, /Deploy stopped before changing anything because the backup failed/);

      const client = new Client({ connectionString: url });
      await client.connect();
      try {
        const schemas = await client.query(`SELECT 1 FROM pg_namespace WHERE nspname IN ('util', 'auth')`);
        assert.equal(schemas.rowCount, 0);
      } finally {
        await client.end();
      }
    } finally {
      await runAdmin(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    }
  });
});
