import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import { runCli } from '../helpers/cli';
import { withFreshDatabase } from '../helpers/database';
import { copyPlatformMigrations, readLog, removeFolder, writeMigrations } from './fixtures';

const execFileAsync = promisify(execFile);
const V000_FORWARD = 'V000__create_platform_foundation.sql';

let platform: string;

before(async () => {
  platform = await copyPlatformMigrations();
});

after(async () => {
  await removeFolder(platform);
});

async function sha256Of(file: string): Promise<string> {
  return createHash('sha256').update(await fs.readFile(file)).digest('hex');
}

async function editedCopy(): Promise<string> {
  const folder = await writeMigrations({}, platform);
  await fs.appendFile(path.join(folder, V000_FORWARD), '\n-- comment added after the deploy\n');
  return folder;
}

describe('checksum drift', () => {
  it('deploy rejects a changed applied file', async () => {
    await withFreshDatabase(async (client, url) => {
      const deployed = await runCli(['deploy', '--to', 'V000', '--database-url', url, '--migrations', platform]);
      assert.equal(deployed.code, 0, deployed.stderr);
      const folder = await editedCopy();
      try {
        const logBefore = await readLog(client);
        const result = await runCli(['deploy', '--database-url', url, '--migrations', folder]);

        assert.equal(result.code, 1, result.stderr);
        assert.match(result.stderr, /error CHECKSUM_MISMATCH: V000__create_platform_foundation\.sql changed after it was applied/);
        assert.ok(result.stderr.includes(await sha256Of(path.join(platform, V000_FORWARD))), 'the recorded checksum is not named');
        assert.ok(result.stderr.includes(await sha256Of(path.join(folder, V000_FORWARD))), 'the file checksum is not named');
        assert.match(result.stderr, /hint: .*onevault repair/);
        assert.deepEqual(await readLog(client), logBefore, 'deploy ran something despite the drift');
      } finally {
        await removeFolder(folder);
      }
    });
  });

  it('repair requires a confirmation', async () => {
    await withFreshDatabase(async (client, url) => {
      assert.equal((await runCli(['deploy', '--to', 'V000', '--database-url', url, '--migrations', platform])).code, 0);
      const folder = await editedCopy();
      try {
        const logBefore = await readLog(client);
        const result = await runCli(['repair', '--database-url', url, '--migrations', folder]);

        assert.equal(result.code, 2, result.stderr);
        assert.match(result.stderr, /error CONFIRMATION_REQUIRED: .*--yes|hint: Add --yes/s);
        assert.deepEqual(await readLog(client), logBefore, 'repair recorded something without a confirmation');
      } finally {
        await removeFolder(folder);
      }
    });
  });

  it('repair re-records and audits', async () => {
    await withFreshDatabase(async (client, url) => {
      assert.equal((await runCli(['deploy', '--to', 'V000', '--database-url', url, '--migrations', platform])).code, 0);
      const folder = await editedCopy();
      try {
        const previous = await sha256Of(path.join(platform, V000_FORWARD));
        const current = await sha256Of(path.join(folder, V000_FORWARD));
        const repaired = await runCli(['repair', '--yes', '--reason', 'comment added', '--database-url', url, '--migrations', folder]);
        assert.equal(repaired.code, 0, repaired.stderr);
        assert.match(repaired.stdout, /V000 V000__create_platform_foundation\.sql: [0-9a-f]{64} -> [0-9a-f]{64}/);

        const repairRows = (await readLog(client)).filter((run) => run.details?.repair === true);
        assert.equal(repairRows.length, 1);
        assert.equal(repairRows[0].version, 'V000');
        assert.equal(repairRows[0].details?.previous_checksum, previous);
        assert.equal(repairRows[0].details?.new_checksum, current);
        assert.equal(repairRows[0].details?.confirmation, '--yes');

        const audit = await client.query(
          `SELECT details, actor, outcome
           FROM audit.audit_detail_s
           WHERE event_type = 'MIGRATION' AND action = 'REPAIR_CHECKSUM'`,
        );
        assert.equal(audit.rowCount, 1);
        assert.equal(audit.rows[0].outcome, 'SUCCESS');
        assert.equal(audit.rows[0].actor, 'postgres');
        assert.equal(audit.rows[0].details.file, V000_FORWARD);
        assert.equal(audit.rows[0].details.previous_checksum, previous);
        assert.equal(audit.rows[0].details.new_checksum, current);
        assert.equal(audit.rows[0].details.reason, 'comment added');
        assert.equal(audit.rows[0].details.confirmation, '--yes');

        const deployed = await runCli(['deploy', '--database-url', url, '--migrations', folder]);
        assert.equal(deployed.code, 0, deployed.stderr);
        assert.doesNotMatch(deployed.stderr, /CHECKSUM_MISMATCH/);
      } finally {
        await removeFolder(folder);
      }
    });
  });

  it('repair records a typed confirmation', async () => {
    await withFreshDatabase(async (client, url) => {
      assert.equal((await runCli(['deploy', '--to', 'V000', '--database-url', url, '--migrations', platform])).code, 0);
      const folder = await editedCopy();
      try {
        // script(1) gives the CLI a terminal, so it prompts and reads the typed answer.
        const command = [process.execPath, path.resolve(__dirname, '..', '..', '..', 'bin', 'onevault.js'), 'repair', '--database-url', url, '--migrations', folder]
          .map((part) => `'${part.replace(/'/g, `'\\''`)}'`)
          .join(' ');
        const child = execFileAsync('script', ['-qec', command, '/dev/null'], { env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 });
        child.child.stdin?.end('yes\n');
        const { stdout } = await child;
        assert.match(stdout, /Type "yes" to continue/);
        assert.match(stdout, /repair: 1 checksum\(s\) re-recorded and audited/);

        const audit = await client.query(`SELECT details FROM audit.audit_detail_s WHERE action = 'REPAIR_CHECKSUM'`);
        assert.equal(audit.rowCount, 1);
        assert.equal(audit.rows[0].details.confirmation, 'typed yes');
      } finally {
        await removeFolder(folder);
      }
    });
  });

  it('deploy rejects a missing applied file', async () => {
    await withFreshDatabase(async (client, url) => {
      assert.equal((await runCli(['deploy', '--database-url', url, '--migrations', platform])).code, 0);
      const folder = await writeMigrations({}, platform);
      try {
        // The latest version is removed, so that the folder itself has no gap.
        const names = (await fs.readdir(folder)).sort();
        const latest = names[names.length - 1].slice(0, 4);
        for (const name of names) if (name.startsWith(`${latest}__`)) await fs.rm(path.join(folder, name));
        const logBefore = await readLog(client);
        const result = await runCli(['deploy', '--database-url', url, '--migrations', folder]);

        assert.equal(result.code, 1, result.stderr);
        assert.match(result.stderr, new RegExp(`error MIGRATION_FILE_MISSING: ${latest} \\(\\w+\\) is applied in the database but its files are not in the migrations folder`));
        assert.deepEqual(await readLog(client), logBefore);
      } finally {
        await removeFolder(folder);
      }
    });
  });

  it('folder faults stop before anything runs', async () => {
    const cases: ReadonlyArray<{ readonly fault: string; readonly files: Record<string, string>; readonly code: RegExp }> = [
      {
        fault: 'duplicate version',
        files: { 'V001__create_other.sql': 'CREATE TABLE public.relw_should_not_exist (id integer);\n' },
        code: /error MIGRATION_DUPLICATE_VERSION: Version V001 is used by both/,
      },
      {
        fault: 'version gap',
        files: { 'V003__create_later.sql': 'SELECT 1;\n', 'V003__rollback_later.sql': 'SELECT 1;\n' },
        code: /error MIGRATION_VERSION_GAP: .*jump from V\d{3} to V003/,
      },
      {
        fault: 'unpaired file',
        files: { 'V002__create_lonely.sql': 'CREATE TABLE public.relw_should_not_exist (id integer);\n' },
        code: /error MIGRATION_UNPAIRED: V002__create_lonely\.sql .*V002__rollback_lonely\.sql is missing/,
      },
    ];

    await withFreshDatabase(async (client, url) => {
      for (const { fault, files, code } of cases) {
        const base = await writeMigrations({}, platform);
        for (const name of await fs.readdir(base)) if (!/^V00[01]__/.test(name)) await fs.rm(path.join(base, name));
        const folder = await writeMigrations(files, base);
        try {
          const result = await runCli(['deploy', '--database-url', url, '--migrations', folder]);
          assert.equal(result.code, 2, `${fault}: ${result.stderr}`);
          assert.match(result.stderr, code, fault);

          const schemas = await client.query(`SELECT nspname FROM pg_catalog.pg_namespace WHERE nspname IN ('util', 'auth', 'audit')`);
          assert.equal(schemas.rowCount, 0, `${fault}: deploy changed the database`);
        } finally {
          await removeFolder(folder);
          await removeFolder(base);
        }
      }
    });
  });
});
