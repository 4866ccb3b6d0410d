import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';

import { OnevaultError } from '../../src/errors';
import { maskUrl, resolveConnectionTarget } from '../../src/connection/settings';

describe('resolveConnectionTarget', () => {
  it('prefers the flag over every variable', () => {
    const target = resolveConnectionTarget({
      databaseUrl: 'postgres://flag@127.0.0.1/one',
      env: { DATABASE_URL: 'postgres://env@127.0.0.1/two', PGHOST: 'pghost', DB_HOST: 'dbhost' },
    });
    assert.equal(target.kind, 'server');
    assert.equal(target.kind === 'server' && target.source, '--database-url');
  });

  it('takes DATABASE_URL before PG variables', () => {
    const target = resolveConnectionTarget({ env: { DATABASE_URL: 'postgres://env@127.0.0.1/two', PGHOST: 'pghost' } });
    assert.equal(target.kind === 'server' && target.source, 'DATABASE_URL');
  });

  it('takes PG variables before DB variables', () => {
    const target = resolveConnectionTarget({ env: { PGHOST: '127.0.0.1', PGDATABASE: 'x', DB_HOST: 'other' } });
    assert.equal(target.kind === 'server' && target.source, 'PG* variables');
    assert.equal(target.kind === 'server' && target.config.database, 'x');
  });

  it('reads the package DB variables with one_vault default', () => {
    const target = resolveConnectionTarget({ env: { DB_HOST: '127.0.0.1', DB_PORT: '5433', DB_USER: 'ops', DB_PASSWORD: 'secret' } });
    assert.equal(target.kind, 'server');
    if (target.kind !== 'server') return;
    assert.equal(target.source, 'DB_* variables');
    assert.equal(target.config.database, 'one_vault');
    assert.equal(target.config.port, 5433);
    assert.equal(target.config.user, 'ops');
    assert.doesNotMatch(target.display, /secret/);
  });

  it('falls back to the embedded server', () => {
    const target = resolveConnectionTarget({ env: {}, dataDir: 'some/dir' });
    assert.equal(target.kind, 'embedded');
    assert.equal(target.kind === 'embedded' && target.dataDir, path.resolve('some/dir'));
  });

  it('ignores empty variables', () => {
    const target = resolveConnectionTarget({ env: { DATABASE_URL: '  ', PGHOST: '' } });
    assert.equal(target.kind, 'embedded');
  });

  it('rejects an empty --database-url', () => {
    assert.throws(
      () => resolveConnectionTarget({ databaseUrl: ' ', env: { DATABASE_URL: 'postgres://env@127.0.0.1/two' } }),
      (error: unknown) => error instanceof OnevaultError && error.code === 'INVALID_CONFIGURATION' && /empty value/.test(error.message),
    );
  });

  it('rejects a URL of another scheme', () => {
    assert.throws(
      () => resolveConnectionTarget({ env: { DATABASE_URL: 'mysql://root:pw@localhost/db' } }),
      (error: unknown) => error instanceof OnevaultError && error.code === 'INVALID_CONFIGURATION' && !error.message.includes(':pw@'),
    );
  });

  it('rejects an invalid sslmode', () => {
    assert.throws(
      () => resolveConnectionTarget({ env: { DATABASE_URL: 'postgres://u@127.0.0.1/db?sslmode=bogus' } }),
      (error: unknown) => error instanceof OnevaultError && error.code === 'INVALID_CONFIGURATION' && /sslmode "bogus"/.test(error.message),
    );
  });

  it('rejects a port that is not a number', () => {
    assert.throws(
      () => resolveConnectionTarget({ env: { DB_HOST: 'h', DB_PORT: 'abc' } }),
      (error: unknown) => error instanceof OnevaultError && error.code === 'INVALID_CONFIGURATION' && /DB_PORT is "abc"/.test(error.message),
    );
  });
});

describe('maskUrl', () => {
  it('hides the password', () => {
    assert.equal(maskUrl('postgres://user:s3cret@host:5432/db'), 'postgres://user:****@host:5432/db');
    assert.equal(maskUrl('postgres://user@host/db'), 'postgres://user@host/db');
    assert.equal(maskUrl('postgres://user@host/db?sslmode=require&password=s3cret'), 'postgres://user@host/db?sslmode=require&password=****');
  });
});
