import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';

import { loadMigrations } from '../../src/migrations/catalog';
import { MIGRATIONS_DIR, runCli } from '../helpers/cli';

describe('embedded default', () => {
  it('deploys twice and rolls back with no settings', async () => {
    // A fresh working directory, so the embedded server's .onevault/ folder is created on first use.
    const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'onevault-embedded-default-'));
    await fs.chmod(workDir, 0o755);
    try {
      const first = await runCli(['deploy'], { cwd: workDir, timeoutMs: 180_000 });
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stdout, /🎉 Migration V001 completed successfully!/);
      const migrations = await loadMigrations(MIGRATIONS_DIR);
      assert.match(first.stdout, new RegExp(`deploy: ${migrations.length} applied, 0 failed`));
      assert.ok((await fs.stat(path.join(workDir, '.onevault'))).isDirectory(), '.onevault/ was not created');

      const second = await runCli(['deploy'], { cwd: workDir, timeoutMs: 180_000 });
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stdout, /Nothing to deploy/);

      const rollback = await runCli(['rollback', '--yes'], { cwd: workDir, timeoutMs: 180_000 });
      assert.equal(rollback.code, 0, rollback.stderr);
      assert.match(rollback.stdout, /rollback: 1 rolled back, 0 failed/);

      const status = await runCli(['status', '--json'], { cwd: workDir, timeoutMs: 180_000 });
      assert.equal(status.code, 0, status.stderr);
      const report = JSON.parse(status.stdout);
      const expected = migrations.map((_migration, index) => (index === migrations.length - 1 ? 'rolled back' : 'applied'));
      assert.deepEqual(report.migrations.map((migration: { state: string }) => migration.state), expected);
    } finally {
      await runCli(['db', 'stop'], { cwd: workDir }).catch(() => undefined);
      await fs.rm(workDir, { recursive: true, force: true });
    }
  });
});
