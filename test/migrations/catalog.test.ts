import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';

import { OnevaultError } from '../../src/errors';
import { loadMigrations, normalizeVersion } from '../../src/migrations/catalog';

async function folderWith(files: readonly string[]): Promise<string> {
  const folder = await fs.mkdtemp(path.join(os.tmpdir(), 'onevault-catalog-'));
  for (const file of files) await fs.writeFile(path.join(folder, file), `-- ${file}\nSELECT 1;\n`);
  return folder;
}

async function loadError(files: readonly string[]): Promise<OnevaultError> {
  const folder = await folderWith(files);
  try {
    await loadMigrations(folder);
  } catch (error) {
    assert.ok(error instanceof OnevaultError, `expected an OnevaultError, got ${String(error)}`);
    return error;
  } finally {
    await fs.rm(folder, { recursive: true, force: true });
  }
  assert.fail(`loading ${files.join(', ')} should have failed`);
}

describe('loadMigrations', () => {
  it('pairs files in version order', async () => {
    const folder = await folderWith(['V001__rollback_b.sql', 'V000__create_a.sql', 'V001__create_b.sql', 'V000__rollback_a.sql', 'README.md']);
    const migrations = await loadMigrations(folder);
    assert.deepEqual(migrations.map((migration) => `${migration.version} ${migration.name}`), ['V000 a', 'V001 b']);
    assert.match(migrations[0].forward.checksum, /^[0-9a-f]{64}$/);
    assert.notEqual(migrations[0].forward.checksum, migrations[0].rollback.checksum);
    await fs.rm(folder, { recursive: true, force: true });
  });

  it('rejects a file without partner', async () => {
    const error = await loadError(['V000__create_a.sql', 'V000__rollback_a.sql', 'V001__create_b.sql']);
    assert.equal(error.code, 'MIGRATION_UNPAIRED');
    assert.match(error.message, /V001__rollback_b\.sql is missing/);
  });

  it('rejects a rollback without forward file', async () => {
    const error = await loadError(['V000__rollback_a.sql']);
    assert.equal(error.code, 'MIGRATION_UNPAIRED');
    assert.match(error.message, /V000__create_a\.sql is missing/);
  });

  it('rejects a duplicate version', async () => {
    const error = await loadError(['V000__create_a.sql', 'V000__rollback_a.sql', 'V000__create_b.sql', 'V000__rollback_b.sql']);
    assert.equal(error.code, 'MIGRATION_DUPLICATE_VERSION');
    assert.match(error.message, /V000/);
  });

  it('rejects a version gap', async () => {
    const error = await loadError(['V000__create_a.sql', 'V000__rollback_a.sql', 'V002__create_c.sql', 'V002__rollback_c.sql']);
    assert.equal(error.code, 'MIGRATION_VERSION_GAP');
    assert.match(error.message, /from V000 to V002/);
  });

  it('rejects a misnamed sql file', async () => {
    const error = await loadError(['V000__create_a.sql', 'V000__rollback_a.sql', 'V1__create_Thing.sql']);
    assert.equal(error.code, 'MIGRATION_FILE_NAME_INVALID');
    assert.match(error.message, /V1__create_Thing\.sql/);
  });

  it('keeps the checksum across BOM and CRLF', async () => {
    const folder = await folderWith([]);
    const sql = 'BEGIN;\nSELECT 1;\nCOMMIT;\n';
    await fs.writeFile(path.join(folder, 'V000__create_a.sql'), sql);
    await fs.writeFile(path.join(folder, 'V000__rollback_a.sql'), `\ufeff${sql.replace(/\n/g, '\r\n')}`);
    const [migration] = await loadMigrations(folder);
    assert.equal(migration.rollback.checksum, migration.forward.checksum);
    assert.equal(migration.rollback.sql.charCodeAt(0), 'B'.charCodeAt(0));
    await fs.rm(folder, { recursive: true, force: true });
  });

  it('ignores hidden files', async () => {
    const folder = await folderWith(['V000__create_a.sql', 'V000__rollback_a.sql', '._V000__create_a.sql', '.V001__create_b.sql']);
    assert.equal((await loadMigrations(folder)).length, 1);
    await fs.rm(folder, { recursive: true, force: true });
  });

  it('rejects a folder named like a migration', async () => {
    const folder = await folderWith(['V000__rollback_a.sql']);
    await fs.mkdir(path.join(folder, 'V000__create_a.sql'));
    try {
      await assert.rejects(loadMigrations(folder), (error: unknown) => error instanceof OnevaultError && error.code === 'MIGRATION_FILE_INVALID' && /is not a regular file/.test(error.message));
    } finally {
      await fs.rm(folder, { recursive: true, force: true });
    }
  });

  it('rejects an empty file', async () => {
    const folder = await folderWith(['V000__rollback_a.sql']);
    await fs.writeFile(path.join(folder, 'V000__create_a.sql'), '-- nothing yet\n');
    try {
      await assert.rejects(loadMigrations(folder), (error: unknown) => error instanceof OnevaultError && error.code === 'MIGRATION_FILE_INVALID' && /contains no SQL statement/.test(error.message));
    } finally {
      await fs.rm(folder, { recursive: true, force: true });
    }
  });

  it('rejects a psql meta-command', async () => {
    const folder = await folderWith(['V000__rollback_a.sql']);
    await fs.writeFile(path.join(folder, 'V000__create_a.sql'), "BEGIN;\nDO $body$\nBEGIN\n\\ inside a body is fine\nEND;\n$body$;\n\\set ON_ERROR_STOP on\nCOMMIT;\n");
    try {
      await assert.rejects(loadMigrations(folder), (error: unknown) => error instanceof OnevaultError && error.code === 'MIGRATION_FILE_INVALID' && /line 7 is a psql meta-command/.test(error.message));
    } finally {
      await fs.rm(folder, { recursive: true, force: true });
    }
  });

  it('reports a missing folder', async () => {
    await assert.rejects(loadMigrations(path.join(os.tmpdir(), 'onevault-no-such-folder')), (error: unknown) => {
      assert.ok(error instanceof OnevaultError);
      assert.equal(error.code, 'MIGRATIONS_DIR_NOT_FOUND');
      return true;
    });
  });
});

describe('normalizeVersion', () => {
  it('accepts common spellings', () => {
    assert.equal(normalizeVersion('V001'), 'V001');
    assert.equal(normalizeVersion('v1'), 'V001');
    assert.equal(normalizeVersion('12'), 'V012');
  });

  it('rejects other text', () => {
    assert.throws(() => normalizeVersion('latest'), (error: unknown) => error instanceof OnevaultError && error.code === 'INVALID_ARGUMENT');
  });
});
