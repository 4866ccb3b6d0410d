/** Stable rule codes. Waivers, tests and CI scripts match on them, so never renumber one. */
export type RuleCode =
  | 'OV001'
  | 'OV002'
  | 'OV003'
  | 'OV101'
  | 'OV102'
  | 'OV103'
  | 'OV104'
  | 'OV105'
  | 'OV201'
  | 'OV202'
  | 'OV203'
  | 'OV301'
  | 'OV302'
  | 'OV311'
  | 'OV312'
  | 'OV313'
  | 'OV314'
  | 'OV315'
  | 'OV401'
  | 'OV402'
  | 'OV403'
  | 'OV404'
  | 'OV405'
  | 'OV406'
  | 'OV407'
  | 'OV501'
  | 'OV502'
  | 'OV504'
  | 'OV505'
  | 'OV601'
  | 'OV602';

export type Severity = 'error' | 'warning';

/** Set of migration files a rule checks: forward (`V###__create_*`), rollback, or every file. */
export type RuleScope = 'all' | 'forward' | 'rollback';

/** One row of the rule table. */
export interface Rule {
  readonly code: RuleCode;
  readonly title: string;
  readonly severity: Severity;
  readonly scope: RuleScope;
  /** The change that makes the finding go away, in one line. */
  readonly fix: string;
  /** False for findings about the file or the waivers themselves, which no comment can waive. */
  readonly waivable: boolean;
}

/** The rule table, in code order. docs/lint-rules.md describes each rule with examples. */
export const RULES: readonly Rule[] = [
  {
    code: 'OV001',
    title: 'SQL or PL/pgSQL that does not parse',
    severity: 'error',
    scope: 'all',
    fix: 'Correct the syntax at the reported position; the message is the PostgreSQL 17 parser\'s own.',
    waivable: false,
  },
  {
    code: 'OV002',
    title: 'waiver without a reason or with an unknown rule code',
    severity: 'error',
    scope: 'all',
    fix: 'Write the waiver as "-- onevault:allow OV### <why the rule does not apply here>" with a code from the rule table.',
    waivable: false,
  },
  {
    code: 'OV003',
    title: 'waiver that matches no finding',
    severity: 'warning',
    scope: 'all',
    fix: 'Delete the waiver, or move it to the line just above the statement it is meant for.',
    waivable: false,
  },
  {
    code: 'OV101',
    title: 'forward migration without its rollback file',
    severity: 'error',
    scope: 'forward',
    fix: 'Add V###__rollback_<name>.sql with the same version and name beside the forward file.',
    waivable: true,
  },
  {
    code: 'OV102',
    title: 'rollback migration without its forward file',
    severity: 'error',
    scope: 'rollback',
    fix: 'Add the matching V###__create_<name>.sql, or rename the rollback to match its forward file.',
    waivable: true,
  },
  {
    code: 'OV103',
    title: 'file name does not follow V###__create_<name>.sql or V###__rollback_<name>.sql',
    severity: 'error',
    scope: 'all',
    fix: 'Rename the file to V<three or more digits>__create_<snake_case_name>.sql or V<digits>__rollback_<snake_case_name>.sql.',
    waivable: true,
  },
  {
    code: 'OV104',
    title: 'two migrations share one version',
    severity: 'error',
    scope: 'all',
    fix: 'Give each migration pair its own version number.',
    waivable: true,
  },
  {
    code: 'OV105',
    title: 'entry named *.sql that is not a readable file',
    severity: 'error',
    scope: 'all',
    fix: 'Remove or rename the folder, or point the symbolic link at an existing migration file.',
    waivable: false,
  },
  {
    code: 'OV201',
    title: 'CREATE without IF NOT EXISTS, OR REPLACE or an existence guard',
    severity: 'error',
    scope: 'all',
    fix: 'Add IF NOT EXISTS or OR REPLACE; for objects that have neither, wrap the CREATE in a DO block under IF NOT EXISTS (SELECT 1 FROM pg_catalog...).',
    waivable: true,
  },
  {
    code: 'OV202',
    title: 'INSERT that adds a duplicate row when the file runs again',
    severity: 'error',
    scope: 'all',
    fix: 'Add ON CONFLICT ... DO NOTHING or DO UPDATE, or insert from SELECT ... WHERE NOT EXISTS, or guard it with IF NOT FOUND.',
    waivable: true,
  },
  {
    code: 'OV203',
    title: 'UPDATE that changes the rows again when the file runs again',
    severity: 'warning',
    scope: 'forward',
    fix: 'Set each column to a value that does not depend on its current value, and add a WHERE clause that matches only the rows still in the old state.',
    waivable: true,
  },
  {
    code: 'OV301',
    title: 'CREATE INDEX without CONCURRENTLY on an existing table',
    severity: 'warning',
    scope: 'forward',
    fix: 'Create the index CONCURRENTLY in a migration of its own with no BEGIN, or waive it when the table is known to be small.',
    waivable: true,
  },
  {
    code: 'OV302',
    title: 'CREATE INDEX CONCURRENTLY inside a transaction',
    severity: 'error',
    scope: 'forward',
    fix: 'Move the statement to a top-level statement of a file without BEGIN/COMMIT, outside any DO block or function.',
    waivable: true,
  },
  {
    code: 'OV311',
    title: 'DROP of a table, column, function, type or other object that code may still use',
    severity: 'error',
    scope: 'forward',
    fix: 'Stop using the object first and drop it in a later migration; keep drops in rollback files.',
    waivable: true,
  },
  {
    code: 'OV312',
    title: 'RENAME of an existing object, or an unguarded RENAME of an object the file creates',
    severity: 'error',
    scope: 'forward',
    fix: 'For an object that existed before this file, add the new one beside it, move the code, and drop the old one later; for one this file creates, use the final name or guard the RENAME with IF EXISTS in a DO block.',
    waivable: true,
  },
  {
    code: 'OV313',
    title: 'ALTER COLUMN ... TYPE on an existing table',
    severity: 'error',
    scope: 'forward',
    fix: 'Add a new column of the new type, backfill it, switch readers, and drop the old column in a later migration.',
    waivable: true,
  },
  {
    code: 'OV314',
    title: 'SET NOT NULL on an existing column',
    severity: 'error',
    scope: 'forward',
    fix: 'Add a CHECK (column IS NOT NULL) NOT VALID constraint, VALIDATE it in a later migration, then set NOT NULL.',
    waivable: true,
  },
  {
    code: 'OV315',
    title: 'ADD COLUMN ... NOT NULL without a DEFAULT',
    severity: 'error',
    scope: 'forward',
    fix: 'Give the column a DEFAULT, or add it nullable, backfill it, and set NOT NULL later.',
    waivable: true,
  },
  {
    code: 'OV401',
    title: 'SECURITY DEFINER function without SET search_path',
    severity: 'error',
    scope: 'all',
    fix: 'Add SET search_path = pg_catalog, pg_temp (or the schemas it needs, pg_temp last) to the function definition.',
    waivable: true,
  },
  {
    code: 'OV402',
    title: 'privilege granted to PUBLIC, or an api or SECURITY DEFINER function left executable by PUBLIC',
    severity: 'error',
    scope: 'all',
    fix: 'Grant to a named role instead; add REVOKE EXECUTE ON FUNCTION <name>(<argument types>) FROM PUBLIC after creating the function.',
    waivable: true,
  },
  {
    code: 'OV403',
    title: 'pgcrypto function called without its schema',
    severity: 'error',
    scope: 'all',
    fix: 'Qualify the call with the schema pgcrypto is installed in, for example public.crypt(...) or extensions.gen_salt(...).',
    waivable: true,
  },
  {
    code: 'OV404',
    title: 'row level security disabled or not forced',
    severity: 'error',
    scope: 'forward',
    fix: 'Keep ENABLE and FORCE ROW LEVEL SECURITY on every tenant table; disable it only in the rollback file of the migration that removes the table.',
    waivable: true,
  },
  {
    code: 'OV405',
    title: 'row level security policy dropped or made always true',
    severity: 'error',
    scope: 'forward',
    fix: 'Keep the policy, or DROP POLICY IF EXISTS and CREATE POLICY it again in the same file; give USING and WITH CHECK a tenant condition instead of true.',
    waivable: true,
  },
  {
    code: 'OV406',
    title: 'grant on a platform table, or a grant on every object of a schema',
    severity: 'error',
    scope: 'all',
    fix: 'Grant EXECUTE on the named api functions the role needs, for example GRANT EXECUTE ON FUNCTION api.tenant_register(jsonb) TO onevault_app.',
    waivable: true,
  },
  {
    code: 'OV407',
    title: 'role given SUPERUSER or BYPASSRLS',
    severity: 'error',
    scope: 'all',
    fix: 'Create and alter roles with NOSUPERUSER NOBYPASSRLS; give a role access through grants on api functions.',
    waivable: true,
  },
  {
    code: 'OV501',
    title: 'file is not all-or-nothing under psql -f without ON_ERROR_STOP',
    severity: 'error',
    scope: 'all',
    fix: 'Wrap every statement in one BEGIN; ... COMMIT; with nothing after COMMIT and no other transaction control.',
    waivable: true,
  },
  {
    code: 'OV502',
    title: 'psql meta-command',
    severity: 'error',
    scope: 'all',
    fix: 'Remove the backslash command or replace it with SQL (SET, DO ... RAISE NOTICE): pgAdmin and the migration runner cannot run it.',
    waivable: true,
  },
  {
    code: 'OV504',
    title: 'file starts with a UTF-8 byte order mark',
    severity: 'warning',
    scope: 'all',
    fix: 'Save the file as UTF-8 without a byte order mark (BOM).',
    waivable: true,
  },
  {
    code: 'OV505',
    title: 'invisible character in SQL',
    severity: 'error',
    scope: 'all',
    fix: 'Delete the invisible character, or write it as an escape (U&\'\\200B\') when a string needs it.',
    waivable: true,
  },
  {
    code: 'OV601',
    title: 'rollback deletes rows without a backup earlier in the file',
    severity: 'error',
    scope: 'rollback',
    fix: 'Copy the rows first into a permanent table (CREATE TABLE backup_schema.t AS SELECT ... FROM the table, or INSERT INTO backup_schema.t SELECT ... FROM the table) in the same file.',
    waivable: true,
  },
  {
    code: 'OV602',
    title: 'DELETE, TRUNCATE or DROP of the audit tables or the migration log',
    severity: 'error',
    scope: 'all',
    fix: 'Leave audit.* and util.migration_log in place; record a correction as a new row instead of removing old ones.',
    waivable: true,
  },
];

const RULES_BY_CODE = new Map<string, Rule>(RULES.map((rule) => [rule.code, rule]));

/** Returns the rule of a code, or undefined for a code that is not in the table. */
export function findRule(code: string): Rule | undefined {
  return RULES_BY_CODE.get(code);
}

/** Returns the rule of a code known to be in the table. */
export function ruleOf(code: RuleCode): Rule {
  const rule = RULES_BY_CODE.get(code);
  if (rule === undefined) throw new Error(`rule ${code} is missing from the rule table`);
  return rule;
}
