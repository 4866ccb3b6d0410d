import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { Client } from 'pg';

import {
  diffFingerprints,
  formatDifferences,
  maskReasonOf,
  partitionDifferences,
  takeFingerprint,
} from '../../src/fingerprint';
import type { FingerprintDifference } from '../../src/fingerprint';
import { withFreshDatabase } from '../helpers/database';

// A small slice of the platform: a hub, a satellite with load_end_date, a function, row level
// security, a grant, and a history table whose values differ on every run.
const PLATFORM_SLICE_SQL = `
CREATE SCHEMA util;
CREATE SCHEMA auth;

CREATE FUNCTION util.get_answer() RETURNS integer
LANGUAGE sql IMMUTABLE
AS $$ SELECT 42 $$;

CREATE TABLE auth.tenant_h (
  tenant_hk bytea PRIMARY KEY,
  tenant_bk text NOT NULL,
  load_date timestamptz NOT NULL DEFAULT clock_timestamp(),
  record_source text NOT NULL DEFAULT 'onevault'
);
COMMENT ON TABLE auth.tenant_h IS 'Tenant hub';

CREATE TABLE auth.tenant_profile_s (
  tenant_hk bytea NOT NULL REFERENCES auth.tenant_h (tenant_hk),
  load_date timestamptz NOT NULL,
  load_end_date timestamptz,
  tenant_name text NOT NULL,
  PRIMARY KEY (tenant_hk, load_date)
);
CREATE INDEX idx_tenant_profile_s_current ON auth.tenant_profile_s (tenant_hk) WHERE load_end_date IS NULL;

ALTER TABLE auth.tenant_h ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON auth.tenant_h
  USING (tenant_hk = decode(current_setting('app.tenant_hk', true), 'hex'));

CREATE TABLE util.migration_log (
  migration_log_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id uuid NOT NULL DEFAULT gen_random_uuid(),
  version text NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO auth.tenant_h (tenant_hk, tenant_bk) VALUES (decode(repeat('00', 31) || '01', 'hex'), 'SYSTEM_OPERATIONS');
INSERT INTO auth.tenant_profile_s (tenant_hk, load_date, load_end_date, tenant_name)
VALUES
  (decode(repeat('00', 31) || '01', 'hex'), clock_timestamp() - interval '1 day', clock_timestamp(), 'System Ops'),
  (decode(repeat('00', 31) || '01', 'hex'), clock_timestamp(), NULL, 'System Operations Tenant');
INSERT INTO util.migration_log (version) VALUES ('V001');
`;

async function withPlatformSlice(fn: (client: Client) => Promise<void>): Promise<void> {
  await withFreshDatabase(async (client) => {
    await client.query(PLATFORM_SLICE_SQL);
    await fn(client);
  });
}

/** Takes a fingerprint, runs `change`, takes another and returns the differences. */
async function differencesAfter(client: Client, change: string): Promise<FingerprintDifference[]> {
  const before = await takeFingerprint(client);
  await client.query(change);
  const after = await takeFingerprint(client);
  return diffFingerprints(before, after);
}

describe('takeFingerprint', () => {
  it('is stable across two takes', async () => {
    await withPlatformSlice(async (client) => {
      const first = await takeFingerprint(client);
      const second = await takeFingerprint(client);

      assert.deepEqual(second, first);
      assert.deepEqual(diffFingerprints(first, second), []);
    });
  });

  it('is plain JSON', async () => {
    await withPlatformSlice(async (client) => {
      const fingerprint = await takeFingerprint(client);

      assert.deepEqual(JSON.parse(JSON.stringify(fingerprint)), fingerprint);
    });
  });

  it('covers user schemas only by default', async () => {
    await withPlatformSlice(async (client) => {
      const fingerprint = await takeFingerprint(client);

      assert.deepEqual(fingerprint.schemas, ['auth', 'public', 'util']);
    });
  });

  it('restores the session settings it pins', async () => {
    await withPlatformSlice(async (client) => {
      await client.query("SET search_path TO auth, public; SET TimeZone TO 'Europe/Zurich'");

      await takeFingerprint(client);

      const settings = await client.query<{ path: string; zone: string }>(
        "SELECT current_setting('search_path') AS path, current_setting('TimeZone') AS zone",
      );
      assert.equal(settings.rows[0].path, 'auth, public');
      assert.equal(settings.rows[0].zone, 'Europe/Zurich');
    });
  });

  it('sees a changed function body', async () => {
    await withPlatformSlice(async (client) => {
      const differences = await differencesAfter(
        client,
        'CREATE OR REPLACE FUNCTION util.get_answer() RETURNS integer LANGUAGE sql IMMUTABLE AS $$ SELECT 43 $$',
      );

      assert.equal(differences.length, 1);
      assert.equal(differences[0].kind, 'function');
      assert.equal(differences[0].name, 'util.get_answer()');
      assert.equal(differences[0].attribute, 'body');
      assert.equal(formatDifferences(differences), '~ function util.get_answer(): body changed: "SELECT 42" → "SELECT 43"');
    });
  });

  it('sees a changed column default', async () => {
    await withPlatformSlice(async (client) => {
      const differences = await differencesAfter(
        client,
        "ALTER TABLE auth.tenant_h ALTER COLUMN record_source SET DEFAULT 'registration'",
      );

      assert.equal(
        formatDifferences(differences),
        "~ column auth.tenant_h.record_source: default 'onevault'::text → 'registration'::text",
      );
    });
  });

  it('sees a changed grant', async () => {
    await withPlatformSlice(async (client) => {
      const differences = await differencesAfter(client, 'GRANT SELECT ON auth.tenant_h TO PUBLIC');

      assert.equal(differences.length, 1);
      assert.equal(differences[0].attribute, 'acl');
      assert.equal(formatDifferences(differences), '~ table auth.tenant_h: acl +[=r/postgres]');
    });
  });

  it('treats a revoked grant like one never given', async () => {
    await withPlatformSlice(async (client) => {
      const differences = await differencesAfter(
        client,
        'GRANT SELECT ON auth.tenant_h TO PUBLIC; REVOKE SELECT ON auth.tenant_h FROM PUBLIC',
      );

      assert.deepEqual(differences, []);
    });
  });

  it('sees database settings', async () => {
    await withPlatformSlice(async (client) => {
      const database = (await client.query<{ name: string }>('SELECT current_database() AS name')).rows[0].name;
      const added = await differencesAfter(
        client,
        `ALTER DATABASE "${database}" SET work_mem = '64MB'; ALTER ROLE CURRENT_USER IN DATABASE "${database}" SET statement_timeout = '5s'`,
      );
      const user = (await client.query<{ name: string }>('SELECT current_user AS name')).rows[0].name;
      assert.equal(formatDifferences(added), `+ database settings for all roles\n+ database settings for role ${user}`);

      const changed = await differencesAfter(client, `ALTER DATABASE "${database}" SET work_mem = '32MB'`);
      assert.equal(formatDifferences(changed), '~ database settings for all roles: settings +[work_mem=32MB] -[work_mem=64MB]');

      const reset = await differencesAfter(client, `ALTER DATABASE "${database}" RESET ALL; ALTER ROLE CURRENT_USER IN DATABASE "${database}" RESET ALL`);
      assert.equal(reset.length, 2);
      assert.ok(reset.every((difference) => difference.change === 'removed' && difference.kind === 'database settings'));
    });
  });

  it('sees a changed policy', async () => {
    await withPlatformSlice(async (client) => {
      const differences = await differencesAfter(client, 'ALTER POLICY tenant_isolation ON auth.tenant_h USING (true)');

      assert.equal(differences.length, 1);
      assert.equal(differences[0].kind, 'policy');
      assert.equal(differences[0].name, 'auth.tenant_h.tenant_isolation');
      assert.equal(differences[0].attribute, 'using');
      assert.equal(differences[0].after, 'true');
    });
  });

  it('sees a changed row and lists it', async () => {
    await withPlatformSlice(async (client) => {
      const differences = await differencesAfter(
        client,
        "UPDATE auth.tenant_profile_s SET tenant_name = 'Renamed' WHERE load_end_date IS NULL",
      );

      assert.equal(differences.length, 1);
      assert.equal(differences[0].kind, 'rows');
      assert.equal(differences[0].rows?.countBefore, 2);
      assert.equal(differences[0].rows?.countAfter, 2);
      assert.equal(differences[0].rows?.added?.length, 1);
      assert.equal(differences[0].rows?.removed?.length, 1);
      assert.match(differences[0].rows?.added?.[0] ?? '', /"tenant_name":"Renamed"/);
      assert.match(formatDifferences(differences), /^~ table auth\.tenant_profile_s rows: 2 → 2 \(\+1 -1\)\n {4}- /);
    });
  });

  it('sees an added row with counts', async () => {
    await withPlatformSlice(async (client) => {
      const differences = await differencesAfter(client, "INSERT INTO util.migration_log (version) VALUES ('V002')");

      assert.equal(differences.length, 1);
      assert.equal(
        formatDifferences(differences),
        [
          '~ table util.migration_log rows: 1 → 2 (+1)',
          '    + {"migration_log_id":"<masked>","run_id":"<masked>","version":"V002","started_at":"<masked>"}',
        ].join('\n'),
      );
    });
  });

  it('ignores changed load dates', async () => {
    await withPlatformSlice(async (client) => {
      const differences = await differencesAfter(
        client,
        "UPDATE auth.tenant_h SET load_date = load_date + interval '1 hour';" +
          "UPDATE auth.tenant_profile_s SET load_end_date = load_end_date + interval '1 hour'",
      );

      assert.deepEqual(differences, []);
    });
  });

  it('sees a satellite version closed', async () => {
    await withPlatformSlice(async (client) => {
      const differences = await differencesAfter(
        client,
        'UPDATE auth.tenant_profile_s SET load_end_date = clock_timestamp() WHERE load_end_date IS NULL',
      );

      assert.equal(differences.length, 1);
      assert.match(differences[0].rows?.removed?.[0] ?? '', /"load_end_date":null/);
      assert.match(differences[0].rows?.added?.[0] ?? '', /"load_end_date":"<masked>"/);
    });
  });

  it('leaves out rows of ignored tables', async () => {
    await withPlatformSlice(async (client) => {
      const before = await takeFingerprint(client, { ignoreTables: ['util.migration_*'] });
      await client.query("INSERT INTO util.migration_log (version) VALUES ('V002')");
      const after = await takeFingerprint(client, { ignoreTables: ['util.migration_*'] });

      assert.equal(after.tableRows['util.migration_log'].rowCount, null);
      assert.deepEqual(diffFingerprints(before, after), []);
    });
  });

  it('folds the contents of a dropped table', async () => {
    await withPlatformSlice(async (client) => {
      const differences = await differencesAfter(client, 'DROP TABLE util.migration_log');

      assert.equal(
        formatDifferences(differences),
        ['- table util.migration_log (1 row, 6 objects inside)', '- sequence util.migration_log_migration_log_id_seq'].join('\n'),
      );
    });
  });

  it('sees a dropped index', async () => {
    await withPlatformSlice(async (client) => {
      const differences = await differencesAfter(client, 'DROP INDEX auth.idx_tenant_profile_s_current');

      assert.equal(formatDifferences(differences), '- index auth.idx_tenant_profile_s_current');
    });
  });

  it('compares two databases with the same schema equal', async () => {
    await withPlatformSlice(async (firstClient) => {
      const first = await takeFingerprint(firstClient);

      await withPlatformSlice(async (secondClient) => {
        const second = await takeFingerprint(secondClient);

        assert.deepEqual(diffFingerprints(first, second), []);
      });
    });
  });
});

describe('diffFingerprints', () => {
  const ignore = { schemas: ['onevault_backup_*'], tableRows: ['util.migration_log'] };
  const change = [
    'CREATE SCHEMA onevault_backup_v001',
    'CREATE TABLE onevault_backup_v001.tenant_h AS SELECT * FROM auth.tenant_h',
    "INSERT INTO util.migration_log (version) VALUES ('V002')",
    'DROP INDEX auth.idx_tenant_profile_s_current',
  ].join(';');

  it('leaves out ignored schemas and table rows', async () => {
    await withPlatformSlice(async (client) => {
      const before = await takeFingerprint(client);
      await client.query(change);
      const after = await takeFingerprint(client);

      assert.equal(formatDifferences(diffFingerprints(before, after, { ignore })), '- index auth.idx_tenant_profile_s_current');
    });
  });

  it('splits off ignored differences', async () => {
    await withPlatformSlice(async (client) => {
      const before = await takeFingerprint(client);
      await client.query(change);
      const after = await takeFingerprint(client);

      const { kept, ignored } = partitionDifferences(diffFingerprints(before, after), ignore);

      assert.deepEqual(
        kept.map((difference) => difference.name),
        ['auth.idx_tenant_profile_s_current'],
      );
      assert.match(formatDifferences(ignored), /^\+ schema onevault_backup_v001 \(5 objects inside\)$/m);
      assert.match(formatDifferences(ignored), /^~ table util\.migration_log rows: 1 → 2 \(\+1\)$/m);
    });
  });

  it('shows the first changed line of a body', async () => {
    await withPlatformSlice(async (client) => {
      const create = (value: number): string =>
        `CREATE OR REPLACE FUNCTION util.get_answer() RETURNS integer LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  RETURN ${value};
END
$$`;
      await client.query(create(1));

      const differences = await differencesAfter(client, create(2));

      assert.equal(
        formatDifferences(differences),
        '~ function util.get_answer(): body changed at line 3: "RETURN 1;" → "RETURN 2;"',
      );
    });
  });
});

describe('maskReasonOf', () => {
  const column = { baseType: 'text', defaultExpression: null, isIdentity: false };

  it('masks identity columns', () => {
    assert.equal(maskReasonOf({ ...column, name: 'id', baseType: 'bigint', isIdentity: true }), 'identity');
  });

  it('masks serial columns', () => {
    const serial = { ...column, name: 'id', defaultExpression: "nextval('util.log_id_seq'::regclass)" };
    assert.equal(maskReasonOf(serial), 'sequence default');
  });

  it('masks random uuid defaults', () => {
    assert.equal(maskReasonOf({ ...column, name: 'run_id', defaultExpression: 'gen_random_uuid()' }), 'random default');
  });

  it('masks clock defaults of any type', () => {
    assert.equal(maskReasonOf({ ...column, name: 'note', defaultExpression: '(now())::text' }), 'clock default');
  });

  it('masks time-of-run names of temporal type', () => {
    const temporal = { ...column, baseType: 'timestamp with time zone' };
    assert.equal(maskReasonOf({ ...temporal, name: 'load_date' }), 'time-of-run name');
    assert.equal(maskReasonOf({ ...temporal, name: 'load_end_date' }), 'time-of-run name');
    assert.equal(maskReasonOf({ ...temporal, name: 'created_at' }), 'time-of-run name');
    assert.equal(maskReasonOf({ ...temporal, name: 'expiry_time' }), 'time-of-run name');
    assert.equal(maskReasonOf({ ...column, baseType: 'date', name: 'birth_date' }), 'time-of-run name');
  });

  it('keeps other temporal and text columns', () => {
    assert.equal(maskReasonOf({ ...column, baseType: 'date', name: 'valid_until' }), null);
    assert.equal(maskReasonOf({ ...column, name: 'created_at' }), null);
    assert.equal(maskReasonOf({ ...column, name: 'record_source', defaultExpression: "'onevault'::text" }), null);
  });
});
