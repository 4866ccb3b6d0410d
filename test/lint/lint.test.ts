import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';

import { OnevaultError } from '../../src/errors';
import { lintPaths } from '../../src/lint/lint';
import type { FileReport, LintFinding } from '../../src/lint/report';
import type { RuleCode } from '../../src/lint/rules';
import { RULES } from '../../src/lint/rules';

// Compiled to dist/test/lint; the fixtures stay in the source tree.
const FIXTURES = path.resolve(__dirname, '..', '..', '..', 'test', 'fixtures', 'lint');
const RULE_FIXTURES = path.join(FIXTURES, 'rules');
const NAMING_FIXTURES = path.join(FIXTURES, 'naming');
const COMPILED_LINT_COMMAND = path.resolve(__dirname, '..', '..', 'src', 'cli', 'commands', 'lint.js');

// Rule fixtures share versions and lack partners on purpose; the naming fixtures test those rules.
const FILE_SET_RULES: readonly RuleCode[] = ['OV101', 'OV102', 'OV104'];

async function lintRuleFixture(fileName: string): Promise<FileReport> {
  const report = await lintPaths([path.join(RULE_FIXTURES, fileName)], { disable: FILE_SET_RULES });
  assert.equal(report.files.length, 1);
  return report.files[0];
}

async function lintNamingFixture(fileName: string): Promise<FileReport> {
  const report = await lintPaths([path.join(NAMING_FIXTURES, fileName)]);
  return report.files[0];
}

function findingsOf(file: FileReport, code: RuleCode): LintFinding[] {
  return file.findings.filter((finding) => finding.code === code);
}

function positionsOf(file: FileReport, code: RuleCode): string[] {
  return findingsOf(file, code).map((finding) => `${finding.line}:${finding.column}`);
}

function codesOf(file: FileReport): string[] {
  return file.findings.map((finding) => finding.code);
}

async function withMigration<T>(fileName: string, sql: string, run: (filePath: string) => Promise<T>): Promise<T> {
  const folder = await fs.mkdtemp(path.join(os.tmpdir(), 'onevault-lint-'));
  try {
    const filePath = path.join(folder, fileName);
    await fs.writeFile(filePath, sql);
    return await run(filePath);
  } finally {
    await fs.rm(folder, { recursive: true, force: true });
  }
}

async function lintSql(sql: string, fileName = 'V001__create_inline.sql'): Promise<FileReport> {
  return withMigration(fileName, sql, async (filePath) => (await lintPaths([filePath], { disable: FILE_SET_RULES })).files[0]);
}

describe('migration file names', () => {
  it('pair passes', async () => {
    assert.deepEqual(codesOf(await lintNamingFixture('V001__create_paired.sql')), []);
    assert.deepEqual(codesOf(await lintNamingFixture('V001__rollback_paired.sql')), []);
  });

  it('forward without rollback is OV101', async () => {
    const file = await lintNamingFixture('V002__create_lonely.sql');
    assert.deepEqual(codesOf(file), ['OV101']);
    assert.match(file.findings[0].message, /V002__rollback_lonely\.sql/);
  });

  it('rollback without forward is OV102', async () => {
    assert.deepEqual(codesOf(await lintNamingFixture('V003__rollback_orphan.sql')), ['OV102']);
  });

  it('unconventional name is OV103', async () => {
    assert.deepEqual(codesOf(await lintNamingFixture('004_no_prefix.sql')), ['OV103']);
  });

  it('shared version is OV104', async () => {
    const file = await lintNamingFixture('V005__create_first.sql');
    assert.deepEqual(codesOf(file), ['OV104']);
    assert.match(file.findings[0].message, /second/);
  });

  it('folder lints every sql file in name order', async () => {
    const report = await lintPaths([NAMING_FIXTURES]);
    const names = report.files.map((file) => path.basename(file.path));
    assert.deepEqual(names, [...names].sort());
    assert.equal(report.summary.files, 9);
  });

  it('folder or dangling link named sql is OV105', async () => {
    const folder = await fs.mkdtemp(path.join(os.tmpdir(), 'onevault-lint-'));
    try {
      await fs.mkdir(path.join(folder, 'V001__create_folder.sql'));
      await fs.symlink(path.join(folder, 'missing.sql'), path.join(folder, 'V002__create_dangling.sql'));
      await fs.writeFile(path.join(folder, 'target.txt'), 'SELECT 1;\n');
      await fs.symlink(path.join(folder, 'target.txt'), path.join(folder, 'V003__create_linked.sql'));

      const report = await lintPaths([folder], { disable: FILE_SET_RULES });
      const byName = new Map(report.files.map((file) => [path.basename(file.path), file]));
      assert.deepEqual([...byName.keys()], ['V001__create_folder.sql', 'V002__create_dangling.sql', 'V003__create_linked.sql']);
      assert.deepEqual(codesOf(byName.get('V001__create_folder.sql')!), ['OV105']);
      assert.match(byName.get('V001__create_folder.sql')!.findings[0].message, /is a folder/);
      assert.deepEqual(codesOf(byName.get('V002__create_dangling.sql')!), ['OV105']);
      assert.match(byName.get('V002__create_dangling.sql')!.findings[0].message, /missing\.sql/);
      assert.deepEqual(codesOf(byName.get('V003__create_linked.sql')!), []);
      assert.equal(report.summary.findings, 2);
    } finally {
      await fs.rm(folder, { recursive: true, force: true });
    }
  });
});

describe('OV001 parse errors', () => {
  it('top-level error carries the parser message and position', async () => {
    const file = await lintRuleFixture('V001__create_parse_error.sql');
    assert.deepEqual(positionsOf(file, 'OV001'), ['3:1']);
    assert.match(findingsOf(file, 'OV001')[0].message, /syntax error at or near "CREAT"/);
  });

  it('error inside a DO block points into the body', async () => {
    const file = await lintRuleFixture('V001__create_parse_error_in_do.sql');
    assert.deepEqual(positionsOf(file, 'OV001'), ['6:5']);
    assert.match(findingsOf(file, 'OV001')[0].message, /"SELEC"/);
  });

  it('broken PL/pgSQL block structure is OV001', async () => {
    const file = await lintSql('BEGIN;\nDO $$\nBEGIN\n    IF true THEN\n        NULL;\nEND\n$$;\nCOMMIT;\n');
    assert.deepEqual(codesOf(file), ['OV001']);
    assert.match(file.findings[0].message, /expected/);
  });

  it('statements after a parse error are still checked', async () => {
    const file = await lintSql('BEGIN;\nCREAT TABLE util.a (id integer);\nCREATE TABLE util.b (id integer);\nCOMMIT;\n');
    assert.deepEqual(codesOf(file), ['OV001', 'OV201']);
  });
});

describe('OV201 CREATE guards', () => {
  it('CREATE TABLE without IF NOT EXISTS fails', async () => {
    const file = await lintRuleFixture('V201__create_unguarded_table.sql');
    assert.deepEqual(positionsOf(file, 'OV201'), ['2:1']);
    assert.match(findingsOf(file, 'OV201')[0].message, /util\.settings/);
  });

  it('IF NOT EXISTS, OR REPLACE and DROP IF EXISTS pass', async () => {
    assert.deepEqual(codesOf(await lintRuleFixture('V201__create_guarded_objects.sql')), []);
  });

  it('unguarded CREATE TYPE in a DO block fails', async () => {
    const file = await lintRuleFixture('V201__create_type_unguarded_in_do.sql');
    assert.deepEqual(positionsOf(file, 'OV201'), ['5:5']);
  });

  it('existence checks and duplicate_object handlers pass', async () => {
    assert.deepEqual(codesOf(await lintRuleFixture('V201__create_type_guarded_in_do.sql')), []);
  });

  it('unnamed index fails', async () => {
    const file = await lintSql('BEGIN;\nCREATE TABLE IF NOT EXISTS util.a (id integer);\nCREATE INDEX ON util.a (id);\nCOMMIT;\n');
    assert.deepEqual(positionsOf(file, 'OV201'), ['3:1']);
    assert.match(findingsOf(file, 'OV201')[0].message, /a name and IF NOT EXISTS/);
  });

  it('ADD CONSTRAINT without a guard fails', async () => {
    const file = await lintSql('BEGIN;\nALTER TABLE auth.tenant_h ADD CONSTRAINT tenant_h_bk_key UNIQUE (tenant_bk);\nCOMMIT;\n');
    assert.deepEqual(codesOf(file), ['OV201']);
  });
});

describe('OV203 UPDATE convergence', () => {
  it('self-reference or no WHERE warns', async () => {
    const file = await lintRuleFixture('V203__create_update_not_convergent.sql');
    assert.deepEqual(positionsOf(file, 'OV203'), ['2:1', '3:1', '4:1', '7:5']);
    assert.ok(findingsOf(file, 'OV203').every((finding) => finding.severity === 'warning'));
    const messages = findingsOf(file, 'OV203').map((finding) => finding.message);
    assert.match(messages[0], /computes max_users from its current value/);
    assert.match(messages[1], /no WHERE clause/);
    assert.match(messages[2], /role_name/);
    assert.match(messages[3], /max_users/);
  });

  it('converging updates pass', async () => {
    assert.deepEqual(codesOf(await lintRuleFixture('V203__create_update_convergent.sql')), []);
  });

  it('rollback files skip OV203', async () => {
    const file = await lintSql('BEGIN;\nUPDATE auth.tenant_profile_s SET max_users = max_users + 1;\nCOMMIT;\n', 'V001__rollback_inline.sql');
    assert.deepEqual(codesOf(file), []);
  });
});

describe('OV202 INSERT guards', () => {
  it('plain INSERT fails', async () => {
    const file = await lintRuleFixture('V202__create_insert_duplicates.sql');
    assert.deepEqual(positionsOf(file, 'OV202'), ['2:1']);
  });

  it('INSERT under an unrelated IF in a DO block fails', async () => {
    const file = await lintRuleFixture('V202__create_insert_duplicates_in_do.sql');
    assert.deepEqual(positionsOf(file, 'OV202'), ['7:9']);
  });

  it('ON CONFLICT, WHERE NOT EXISTS and IF NOT FOUND pass', async () => {
    assert.deepEqual(codesOf(await lintRuleFixture('V202__create_insert_guarded.sql')), []);
  });
});

describe('OV301 and OV302 indexes', () => {
  it('index on an existing table fails', async () => {
    const file = await lintRuleFixture('V301__create_index_on_existing_table.sql');
    assert.deepEqual(positionsOf(file, 'OV301'), ['2:1']);
    assert.equal(findingsOf(file, 'OV301')[0].severity, 'warning');
  });

  it('index on a table of the same file passes', async () => {
    assert.deepEqual(codesOf(await lintRuleFixture('V301__create_index_on_new_table.sql')), []);
  });

  it('CONCURRENTLY after BEGIN fails', async () => {
    const file = await lintRuleFixture('V302__create_concurrent_index_in_transaction.sql');
    assert.deepEqual(positionsOf(file, 'OV302'), ['2:1']);
  });

  it('CONCURRENTLY in a DO block fails', async () => {
    const file = await lintRuleFixture('V302__create_concurrent_index_in_do.sql');
    assert.deepEqual(positionsOf(file, 'OV302'), ['3:13']);
  });

  it('CONCURRENTLY alone in its file passes', async () => {
    assert.deepEqual(codesOf(await lintRuleFixture('V302__create_concurrent_index_alone.sql')), []);
  });

  it('rollback files skip OV301', async () => {
    const file = await lintSql('BEGIN;\nCREATE INDEX IF NOT EXISTS idx_a ON auth.tenant_h (tenant_bk);\nCOMMIT;\n', 'V001__rollback_inline.sql');
    assert.deepEqual(codesOf(file), []);
  });
});

describe('OV311 to OV315 breaking changes', () => {
  it('drops in a forward file fail, also in EXECUTE', async () => {
    const file = await lintRuleFixture('V311__create_destructive_changes.sql');
    assert.deepEqual(positionsOf(file, 'OV311'), ['2:1', '3:1', '4:1', '7:13']);
  });

  it('drops in a rollback file pass', async () => {
    assert.deepEqual(codesOf(await lintRuleFixture('V311__rollback_destructive_changes.sql')), []);
  });

  it('RENAME fails', async () => {
    assert.deepEqual(codesOf(await lintRuleFixture('V312__create_rename.sql')), ['OV312']);
  });

  it('RENAME of a same-file object fails', async () => {
    const file = await lintRuleFixture('V312__create_rename_of_new_objects.sql');
    assert.deepEqual(positionsOf(file, 'OV312'), ['3:1', '4:1']);
    assert.match(findingsOf(file, 'OV312')[0].message, /runs again/);
  });

  it('RENAME under an existence check passes', async () => {
    assert.deepEqual(codesOf(await lintRuleFixture('V312__create_rename_guarded.sql')), []);
  });

  it('RENAME under an unrelated IF fails', async () => {
    const sql = 'BEGIN;\nCREATE TABLE IF NOT EXISTS util.a (v integer);\nDO $$\nBEGIN\n    IF pg_catalog.current_setting(\'onevault.rename\') = \'on\' THEN\n        ALTER TABLE util.a RENAME COLUMN v TO w;\n    END IF;\nEND\n$$;\nCOMMIT;\n';
    assert.deepEqual(positionsOf(await lintSql(sql), 'OV312'), ['6:9']);
  });

  it('guarded RENAME of an existing table fails', async () => {
    const sql = 'BEGIN;\nDO $$\nBEGIN\n    IF pg_catalog.to_regclass(\'auth.tenant_x\') IS NULL THEN\n        ALTER TABLE auth.tenant_h RENAME TO tenant_x;\n    END IF;\nEND\n$$;\nCOMMIT;\n';
    const file = await lintSql(sql);
    assert.deepEqual(positionsOf(file, 'OV312'), ['5:9']);
    assert.match(findingsOf(file, 'OV312')[0].message, /old name/);
  });

  it('ALTER COLUMN TYPE fails', async () => {
    assert.deepEqual(codesOf(await lintRuleFixture('V313__create_alter_column_type.sql')), ['OV313']);
  });

  it('SET NOT NULL fails', async () => {
    assert.deepEqual(codesOf(await lintRuleFixture('V314__create_set_not_null.sql')), ['OV314']);
  });

  it('ADD COLUMN NOT NULL without DEFAULT fails', async () => {
    assert.deepEqual(codesOf(await lintRuleFixture('V315__create_add_column_not_null.sql')), ['OV315']);
  });

  it('additive and same-file changes pass', async () => {
    assert.deepEqual(codesOf(await lintRuleFixture('V315__create_compatible_changes.sql')), []);
  });
});

describe('OV401 to OV403 security', () => {
  it('SECURITY DEFINER without search_path fails', async () => {
    const file = await lintRuleFixture('V401__create_security_definer_without_search_path.sql');
    assert.deepEqual(positionsOf(file, 'OV401'), ['2:1']);
  });

  it('SECURITY DEFINER created by EXECUTE in a DO block fails', async () => {
    const file = await lintRuleFixture('V401__create_security_definer_in_do.sql');
    assert.deepEqual(positionsOf(file, 'OV401'), ['4:13']);
  });

  it('pinned search_path, revoke and qualified pgcrypto pass', async () => {
    assert.deepEqual(codesOf(await lintRuleFixture('V401__create_security_definer_safe.sql')), []);
  });

  it('GRANT TO PUBLIC fails', async () => {
    // The granted table is in the auth schema, so OV406 reports the same statement.
    assert.deepEqual(codesOf(await lintRuleFixture('V402__create_grant_to_public.sql')), ['OV402', 'OV406']);
  });

  it('api function without REVOKE FROM PUBLIC fails', async () => {
    const file = await lintRuleFixture('V402__create_api_function_open_to_public.sql');
    assert.deepEqual(codesOf(file), ['OV402']);
    assert.match(file.findings[0].message, /api\.ping/);
  });

  it('later ALTER FUNCTION SET search_path passes', async () => {
    const sql = [
      'BEGIN;',
      'CREATE OR REPLACE FUNCTION util.q() RETURNS integer LANGUAGE sql SECURITY DEFINER AS $f$ SELECT 1 $f$;',
      'ALTER FUNCTION util.q() SET search_path = pg_catalog, pg_temp;',
      'REVOKE ALL ON FUNCTION util.q() FROM PUBLIC;',
      'COMMIT;',
      '',
    ].join('\n');
    assert.deepEqual(codesOf(await lintSql(sql)), []);
  });

  it('default privileges to PUBLIC fail', async () => {
    const file = await lintSql('BEGIN;\nALTER DEFAULT PRIVILEGES IN SCHEMA api GRANT EXECUTE ON FUNCTIONS TO PUBLIC;\nCOMMIT;\n');
    assert.deepEqual(positionsOf(file, 'OV402'), ['2:1']);
  });

  it('REVOKE on all functions in the schema passes', async () => {
    const sql = [
      'BEGIN;',
      'CREATE OR REPLACE FUNCTION api.ping() RETURNS text LANGUAGE sql AS $f$ SELECT 1::text $f$;',
      'REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA api FROM PUBLIC;',
      'COMMIT;',
      '',
    ].join('\n');
    assert.deepEqual(codesOf(await lintSql(sql)), []);
  });

  it('unqualified pgcrypto calls in function bodies fail', async () => {
    const file = await lintRuleFixture('V403__create_unqualified_pgcrypto.sql');
    assert.deepEqual(positionsOf(file, 'OV403'), ['9:15', '10:8', '13:12', '20:12']);
    assert.deepEqual(
      findingsOf(file, 'OV403').map((finding) => /function (\w+)\(\)/.exec(finding.message)?.[1]),
      ['gen_salt', 'pgp_sym_encrypt', 'crypt', 'gen_random_bytes'],
    );
  });
});

describe('OV404 to OV407 row level security', () => {
  it('DISABLE and NO FORCE fail, also in EXECUTE', async () => {
    const file = await lintRuleFixture('V404__create_disable_row_security.sql');
    assert.deepEqual(positionsOf(file, 'OV404'), ['2:1', '3:1', '6:13']);
    assert.match(findingsOf(file, 'OV404')[1].message, /auth\.user_profile_s NO FORCE ROW LEVEL SECURITY/);
    assert.match(findingsOf(file, 'OV404')[2].message, /auth\.tenant_h DISABLE/);
  });

  it('ENABLE and FORCE pass', async () => {
    assert.deepEqual(codesOf(await lintRuleFixture('V404__create_enable_row_security.sql')), []);
  });

  it('rollback files skip OV404', async () => {
    assert.deepEqual(codesOf(await lintRuleFixture('V404__rollback_disable_row_security.sql')), []);
  });

  it('dropped and always-true policies fail', async () => {
    const file = await lintRuleFixture('V405__create_weakened_policies.sql');
    assert.deepEqual(codesOf(file), ['OV405', 'OV405', 'OV405', 'OV405', 'OV405']);
    assert.deepEqual(positionsOf(file, 'OV405'), ['2:1', '6:9', '10:1', '13:13', '14:13']);
    assert.match(file.findings[0].message, /DROP POLICY onevault_tenant_isolation ON auth\.user_profile_s/);
    assert.match(file.findings[1].message, /USING \(true\)/);
    assert.match(file.findings[2].message, /WITH CHECK \(true\)/);
  });

  it('recreated, restrictive and run-time role policies pass', async () => {
    assert.deepEqual(codesOf(await lintRuleFixture('V405__create_policies_kept.sql')), []);
  });

  it('rollback files skip OV405', async () => {
    assert.deepEqual(codesOf(await lintRuleFixture('V405__rollback_drop_policy.sql')), []);
  });

  it('policy dropped after its CREATE passes', async () => {
    const sql = [
      'BEGIN;',
      'CREATE POLICY scratch_isolation ON util.scratch USING (tenant_hk = util.current_tenant_hk());',
      'DROP POLICY scratch_isolation ON util.scratch;',
      'COMMIT;',
      '',
    ].join('\n');
    assert.deepEqual(findingsOf(await lintSql(sql), 'OV405'), []);
  });

  it('drop recreated on another table fails', async () => {
    const sql = [
      'BEGIN;',
      'DROP POLICY IF EXISTS onevault_tenant_isolation ON auth.user_h;',
      'CREATE POLICY onevault_tenant_isolation ON auth.role_h USING (tenant_hk = util.current_tenant_hk());',
      'COMMIT;',
      '',
    ].join('\n');
    assert.deepEqual(positionsOf(await lintSql(sql), 'OV405'), ['2:1']);
  });

  it('platform table and schema-wide grants fail', async () => {
    const file = await lintRuleFixture('V406__create_broad_grants.sql');
    assert.deepEqual(codesOf(file), ['OV406', 'OV406', 'OV406', 'OV406', 'OV406', 'OV406']);
    assert.deepEqual(positionsOf(file, 'OV406'), ['2:1', '3:1', '4:1', '5:1', '6:1', '9:13']);
    assert.match(file.findings[1].message, /ALL FUNCTIONS IN SCHEMA api TO onevault_app/);
    assert.match(file.findings[2].message, /ON auth\.user_h TO/);
    assert.doesNotMatch(file.findings[2].message, /api\.tenant_v/);
  });

  it('named api grants and revokes pass', async () => {
    assert.deepEqual(codesOf(await lintRuleFixture('V406__create_named_grants.sql')), []);
  });

  it('rollback files keep OV406', async () => {
    assert.deepEqual(positionsOf(await lintRuleFixture('V406__rollback_schema_grant.sql'), 'OV406'), ['2:1']);
  });

  it('SUPERUSER and BYPASSRLS roles fail', async () => {
    const file = await lintRuleFixture('V407__create_bypassing_roles.sql');
    assert.deepEqual(codesOf(file), ['OV407', 'OV407', 'OV407']);
    assert.deepEqual(positionsOf(file, 'OV407'), ['2:1', '6:9', '8:13']);
    assert.match(file.findings[0].message, /ALTER ROLE onevault_app BYPASSRLS/);
    assert.match(file.findings[2].message, /SUPERUSER BYPASSRLS/);
  });

  it('NOSUPERUSER NOBYPASSRLS roles pass', async () => {
    assert.deepEqual(codesOf(await lintRuleFixture('V407__create_restricted_roles.sql')), []);
  });

  it('rollback files keep OV407', async () => {
    const file = await lintSql('BEGIN;\nALTER USER onevault_app SUPERUSER;\nCOMMIT;\n', 'V001__rollback_inline.sql');
    assert.deepEqual(positionsOf(file, 'OV407'), ['2:1']);
  });

  it('waivers with a reason cover OV404 to OV407', async () => {
    const file = await lintRuleFixture('V404__create_waived_row_security_changes.sql');
    assert.deepEqual(codesOf(file), []);
    assert.deepEqual(file.waived.map((waived) => `${waived.code}:${waived.line}`), ['OV404:3', 'OV405:5', 'OV406:7', 'OV407:11']);
  });
});

describe('OV501 and OV502 psql safety', () => {
  const cases: readonly [string, string][] = [
    ['V501__create_without_transaction.sql', '1:1'],
    ['V501__create_statement_after_commit.sql', '4:1'],
    ['V501__create_commit_in_the_middle.sql', '4:1'],
    ['V501__create_begin_without_commit.sql', '1:1'],
    ['V501__create_commit_in_do.sql', '5:5'],
  ];
  for (const [fileName, position] of cases) {
    it(`${fileName.replace(/^V501__create_|\.sql$/g, '').replace(/_/g, ' ')} fails`, async () => {
      assert.deepEqual(positionsOf(await lintRuleFixture(fileName), 'OV501'), [position]);
    });
  }

  it('statement before BEGIN fails', async () => {
    const file = await lintSql('CREATE TABLE IF NOT EXISTS util.a (id integer);\nBEGIN;\nCREATE TABLE IF NOT EXISTS util.b (id integer);\nCOMMIT;\n');
    assert.deepEqual(positionsOf(file, 'OV501'), ['1:1']);
    assert.match(findingsOf(file, 'OV501')[0].message, /before BEGIN/);
  });

  it('single BEGIN ... COMMIT passes', async () => {
    assert.deepEqual(positionsOf(await lintRuleFixture('V201__create_guarded_objects.sql'), 'OV501'), []);
  });

  it('meta-command fails', async () => {
    const file = await lintRuleFixture('V502__create_meta_command.sql');
    assert.deepEqual(codesOf(file), ['OV502']);
    assert.match(file.findings[0].message, /\\set ON_ERROR_STOP on/);
  });

  it('empty file fails', async () => {
    assert.deepEqual(positionsOf(await lintRuleFixture('V501__create_empty.sql'), 'OV501'), ['1:1']);
    const file = await lintRuleFixture('V501__create_only_comments.sql');
    assert.deepEqual(codesOf(file), ['OV501']);
    assert.match(file.findings[0].message, /no statement/);
  });

  it('VACUUM message names VACUUM', async () => {
    const plain = await lintSql('BEGIN;\nVACUUM auth.tenant_h;\nCOMMIT;\n');
    assert.deepEqual(positionsOf(plain, 'OV501'), ['2:1']);
    assert.match(findingsOf(plain, 'OV501')[0].message, /^VACUUM cannot run inside a transaction block/);
    const full = await lintSql('BEGIN;\nVACUUM (FULL, ANALYZE) auth.tenant_h;\nCOMMIT;\n');
    assert.match(findingsOf(full, 'OV501')[0].message, /^VACUUM FULL ANALYZE cannot run/);
  });

  it('ANALYZE inside BEGIN passes', async () => {
    assert.deepEqual(codesOf(await lintSql('BEGIN;\nANALYZE auth.tenant_h;\nCOMMIT;\n')), []);
  });

  it('byte order mark is OV504 only', async () => {
    const file = await lintRuleFixture('V504__create_byte_order_mark.sql');
    assert.deepEqual(codesOf(file), ['OV504']);
    assert.deepEqual(positionsOf(file, 'OV504'), ['1:1']);
    assert.equal(file.findings[0].severity, 'warning');
  });

  it('invisible character is OV505', async () => {
    const file = await lintSql('BEGIN;\nCREATE TABLE IF NOT EXISTS util.tenant\u200B_note (id integer);\nCOMMIT;\n');
    assert.deepEqual(positionsOf(file, 'OV505'), ['2:39']);
    assert.match(findingsOf(file, 'OV505')[0].message, /U\+200B/);
  });

  it('emoji joiner and comments pass OV505', async () => {
    const sql = "BEGIN;\n-- note\u200B\nDO $$ BEGIN RAISE NOTICE '👩\u200D💻 done'; END $$;\nCOMMIT;\n";
    assert.deepEqual(codesOf(await lintSql(sql)), []);
  });
});

describe('OV601 rollback backups', () => {
  it('deletes without a backup fail, also inside DO', async () => {
    const file = await lintRuleFixture('V601__rollback_delete_without_backup.sql');
    assert.deepEqual(positionsOf(file, 'OV601'), ['2:1', '5:5', '6:13']);
  });

  it('copies before deletes pass, also through format()', async () => {
    assert.deepEqual(codesOf(await lintRuleFixture('V601__rollback_delete_with_backup.sql')), []);
  });

  it('forward files skip OV601', async () => {
    const file = await lintSql('BEGIN;\nDELETE FROM auth.session_state_s WHERE load_end_date IS NOT NULL;\nCOMMIT;\n');
    assert.deepEqual(codesOf(file), []);
  });

  it('temporary and unlogged copies are no backup', async () => {
    const file = await lintRuleFixture('V601__rollback_delete_with_temporary_copy.sql');
    assert.deepEqual(positionsOf(file, 'OV601'), ['4:1', '6:1', '9:1', '11:1']);
  });

  it('temporary copy of audit rows fails twice', async () => {
    const sql = 'BEGIN;\nCREATE TEMP TABLE IF NOT EXISTS gone_e AS SELECT * FROM audit.audit_event_h;\nDELETE FROM audit.audit_event_h;\nCOMMIT;\n';
    const file = await lintSql(sql, 'V001__rollback_inline.sql');
    assert.deepEqual(codesOf(file), ['OV601', 'OV602']);
  });

  it('copy to stdout is no backup', async () => {
    const sql = 'BEGIN;\nCOPY auth.tenant_profile_s TO STDOUT;\nDELETE FROM auth.tenant_profile_s;\nCOMMIT;\n';
    assert.deepEqual(positionsOf(await lintSql(sql, 'V001__rollback_inline.sql'), 'OV601'), ['3:1']);
  });
});

describe('OV602 audit history', () => {
  it('removing history fails in a rollback', async () => {
    const file = await lintRuleFixture('V602__rollback_delete_audit_history.sql');
    assert.deepEqual(positionsOf(file, 'OV602'), ['4:1', '5:1', '6:1', '9:13']);
    assert.deepEqual(file.waived, [{ code: 'OV602', line: 13, reason: 'the V602 test rows are not history' }]);
    assert.match(findingsOf(file, 'OV602')[2].message, /util\.migration_log/);
  });

  it('function deleting the log fails', async () => {
    const file = await lintRuleFixture('V602__create_function_deletes_history.sql');
    assert.deepEqual(positionsOf(file, 'OV602'), ['5:5']);
  });
});

describe('waivers', () => {
  it('waiver with reason moves findings to waived', async () => {
    const file = await lintRuleFixture('V701__create_waiver_with_reason.sql');
    assert.deepEqual(codesOf(file), []);
    assert.deepEqual(file.waived, [
      { code: 'OV301', line: 3, reason: 'auth.tenant_h holds one row per tenant, a few hundred at most' },
      { code: 'OV202', line: 7, reason: 'one audit row per run is the point of this insert' },
    ]);
  });

  it('waiver without reason is OV002 and waives nothing', async () => {
    const file = await lintRuleFixture('V701__create_waiver_without_reason.sql');
    assert.deepEqual(codesOf(file), ['OV002', 'OV301']);
    assert.deepEqual(file.waived, []);
  });

  it('unused waiver is OV003, unknown code OV002', async () => {
    const file = await lintRuleFixture('V701__create_waiver_unused.sql');
    assert.deepEqual(codesOf(file), ['OV003', 'OV002']);
    assert.match(file.findings[1].message, /OV999/);
  });

  it('waiver of a disabled rule is not OV003', async () => {
    const report = await lintPaths([path.join(RULE_FIXTURES, 'V701__create_waiver_with_reason.sql')], { disable: [...FILE_SET_RULES, 'OV301'] });
    assert.deepEqual(codesOf(report.files[0]), []);
    assert.deepEqual(report.files[0].waived.map((waived) => waived.code), ['OV202']);
  });

  it('same-line waiver applies', async () => {
    const file = await lintSql('BEGIN;\nCREATE TABLE util.a (id integer); -- onevault:allow OV201 created once by hand, never re-run\nCOMMIT;\n');
    assert.deepEqual(codesOf(file), []);
    assert.equal(file.waived.length, 1);
  });

  it('waiver above a DO block covers its body', async () => {
    const sql = 'BEGIN;\n-- onevault:allow OV202 one row per run by design\nDO $$\nBEGIN\n    INSERT INTO audit.e VALUES (1);\nEND\n$$;\nCOMMIT;\n';
    const file = await lintSql(sql);
    assert.deepEqual(codesOf(file), []);
    assert.deepEqual(file.waived, [{ code: 'OV202', line: 5, reason: 'one row per run by design' }]);
  });

  it('waiver text inside strings is ignored', async () => {
    const file = await lintRuleFixture('V701__create_waiver_in_string.sql');
    assert.deepEqual(codesOf(file), ['OV201', 'OV201', 'OV202']);
    assert.deepEqual(positionsOf(file, 'OV201'), ['4:1', '6:1']);
    assert.deepEqual(file.waived, []);
  });

  it('waiver after a string on its line applies', async () => {
    const file = await lintSql("BEGIN;\nSELECT '--'; -- onevault:allow OV201 created once by hand\nCREATE TABLE util.a (id integer);\nCOMMIT;\n");
    assert.deepEqual(codesOf(file), []);
    assert.deepEqual(file.waived.map((waived) => waived.reason), ['created once by hand']);
  });
});

describe('walker', () => {
  it('columns count code points after emoji', async () => {
    const file = await lintSql("BEGIN; SELECT '🎉🎉'; CREATE TABLE util.a (id integer); COMMIT;\n");
    assert.deepEqual(positionsOf(file, 'OV201'), ['1:21']);
  });

  it('single-quoted function body maps positions', async () => {
    const sql = "BEGIN;\nCREATE OR REPLACE FUNCTION util.f() RETURNS text LANGUAGE sql AS '\n    SELECT ''a'' || crypt(''x'', ''y'')\n';\nCOMMIT;\n";
    const file = await lintSql(sql);
    assert.deepEqual(positionsOf(file, 'OV403'), ['3:21']);
  });

  it('BEGIN ATOMIC body is checked', async () => {
    const sql = 'BEGIN;\nCREATE OR REPLACE FUNCTION util.f() RETURNS bytea LANGUAGE sql\nBEGIN ATOMIC\n    SELECT digest(\'x\', \'sha256\');\nEND;\nCOMMIT;\n';
    const file = await lintSql(sql);
    assert.deepEqual(positionsOf(file, 'OV403'), ['4:12']);
  });

  it('constant EXECUTE concatenation is parsed', async () => {
    const sql = "BEGIN;\nDO $$\nBEGIN\n    EXECUTE 'CREATE TABLE ' || 'util.a (id integer)';\nEND\n$$;\nCOMMIT;\n";
    const file = await lintSql(sql);
    assert.deepEqual(positionsOf(file, 'OV201'), ['4:13']);
  });

  it('compiler options before the block are skipped', async () => {
    const sql = 'BEGIN;\nCREATE OR REPLACE FUNCTION util.f() RETURNS bytea LANGUAGE plpgsql AS $f$\n#variable_conflict use_column\nBEGIN\n    RETURN digest(\'x\', \'sha256\');\nEND\n$f$;\nCOMMIT;\n';
    const file = await lintSql(sql);
    assert.deepEqual(positionsOf(file, 'OV403'), ['5:12']);
  });

  it('loops, CASE and declarations are visited', async () => {
    const sql = [
      'BEGIN;',
      'DO $$',
      'DECLARE',
      "    v_salt text := gen_salt('bf');",
      '    v_kind text;',
      'BEGIN',
      "    FOREACH v_kind IN ARRAY ARRAY['a', 'b'] LOOP",
      '        CASE v_kind',
      "            WHEN 'a' THEN",
      '                INSERT INTO audit.e VALUES (v_kind);',
      '            ELSE',
      '                NULL;',
      '        END CASE;',
      '    END LOOP;',
      'END',
      '$$;',
      'COMMIT;',
      '',
    ].join('\n');
    const file = await lintSql(sql);
    assert.deepEqual(codesOf(file), ['OV403', 'OV202']);
    assert.deepEqual(file.findings.map((finding) => finding.line), [4, 10]);
  });
});

describe('report', () => {
  it('findings carry rule, fix and excerpt', async () => {
    const file = await lintRuleFixture('V201__create_unguarded_table.sql');
    const [finding] = file.findings;
    const rule = RULES.find((candidate) => candidate.code === 'OV201');
    assert.equal(finding.rule, rule?.title);
    assert.equal(finding.fix, rule?.fix);
    assert.equal(finding.severity, 'error');
    assert.equal(finding.statement, 'CREATE TABLE util.settings (key text PRIMARY KEY, value text)');
  });

  it('summary adds up the files', async () => {
    const report = await lintPaths([RULE_FIXTURES], { disable: FILE_SET_RULES });
    const findings = report.files.reduce((total, file) => total + file.findings.length, 0);
    const waived = report.files.reduce((total, file) => total + file.waived.length, 0);
    assert.deepEqual(report.summary, { files: report.files.length, findings, waived });
    assert.ok(findings > 0);
  });

  it('rule codes are unique and documented', async () => {
    const codes = RULES.map((rule) => rule.code);
    assert.equal(new Set(codes).size, codes.length);
    const documentation = await fs.readFile(path.resolve(FIXTURES, '..', '..', '..', 'docs', 'lint-rules.md'), 'utf8');
    for (const code of codes) assert.match(documentation, new RegExp(`## ${code}\\b`), `docs/lint-rules.md lacks ${code}`);
  });

  it('path given twice is linted once', async () => {
    const file = path.join(NAMING_FIXTURES, 'V001__create_paired.sql');
    const report = await lintPaths([file, NAMING_FIXTURES]);
    assert.equal(report.summary.files, 9);
  });

  it('missing path rejects with INVALID_ARGUMENT', async () => {
    await assert.rejects(lintPaths([path.join(FIXTURES, 'no-such-folder')]), (error: unknown) => {
      assert.ok(error instanceof OnevaultError);
      assert.equal(error.code, 'INVALID_ARGUMENT');
      return true;
    });
  });
});

describe('onevault lint command', () => {
  function runLint(args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
    const script = [
      "const { Command } = require('commander');",
      `const { registerLintCommand } = require(${JSON.stringify(COMPILED_LINT_COMMAND)});`,
      'const program = new Command();',
      'registerLintCommand(program);',
      "program.parseAsync(['node', 'onevault', ...process.argv.slice(1)]);",
    ].join('\n');
    const result = spawnSync(process.execPath, ['-e', script, ...args], { encoding: 'utf8', cwd: path.resolve(__dirname, '..', '..', '..') });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  it('findings exit 3 with aligned lines', () => {
    const target = path.join(RULE_FIXTURES, 'V313__create_alter_column_type.sql');
    const result = runLint(['lint', target]);
    assert.equal(result.status, 3);
    const lines = result.stdout.split('\n');
    assert.match(lines[0], /V313__create_alter_column_type\.sql:1:1 +OV101 +/);
    assert.match(lines[2], /V313__create_alter_column_type\.sql:2:1 +OV313 +ALTER COLUMN auth\.tenant_profile_s\.max_users TYPE/);
    assert.equal(lines[0].indexOf('OV101'), lines[2].indexOf('OV313'));
    assert.match(lines[3], /^ +fix: +Add a new column of the new type/);
    assert.match(result.stdout, /lint found problems: 1 file, 2 findings \(2 errors, 0 warnings\), 0 waived/);
  });

  it('clean folder exits 0', () => {
    const result = runLint(['lint', path.join(NAMING_FIXTURES, 'V001__create_paired.sql'), path.join(NAMING_FIXTURES, 'V001__rollback_paired.sql')]);
    assert.equal(result.status, 0);
    assert.match(result.stdout, /^lint ok: 2 files, 0 findings/);
  });

  it('--json prints the report', () => {
    const result = runLint(['lint', '--json', path.join(NAMING_FIXTURES, 'V002__create_lonely.sql')]);
    assert.equal(result.status, 3);
    const report = JSON.parse(result.stdout) as { summary: { findings: number }; files: { findings: { code: string }[] }[] };
    assert.equal(report.summary.findings, 1);
    assert.equal(report.files[0].findings[0].code, 'OV101');
  });

  it('unreadable path exits 2', () => {
    const result = runLint(['lint', path.join(FIXTURES, 'no-such-folder')]);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /error INVALID_ARGUMENT: cannot read .*no-such-folder/);
    assert.equal(result.stdout, '');
  });
});
