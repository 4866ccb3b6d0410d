import { expectThat, groupOf, listText, type CheckGroup } from './check-result';

/** Oldest supported server major version: V000 relies on pgcrypto being trusted and on DROP DATABASE ... WITH (FORCE), both PostgreSQL 13. */
export const MIN_SERVER_MAJOR = 13;
/** Newest server major version the migrations were written for. */
export const MAX_SERVER_MAJOR = 18;

export const REQUIRED_SCHEMAS = ['util', 'auth', 'raw', 'staging', 'audit', 'api'] as const;

export const REQUIRED_TABLES = [
  'util.migration_log',
  'auth.tenant_h',
  'auth.tenant_profile_s',
  'auth.role_h',
  'auth.role_profile_s',
  'auth.user_h',
  'auth.user_role_l',
  'raw.tenant_registration_r',
  'staging.tenant_registration_s',
  'audit.audit_event_h',
  'audit.audit_detail_s',
] as const;

export const REQUIRED_FUNCTIONS = [
  'util.hash_binary(text)',
  'util.hash_concat(text[])',
  'util.current_load_date()',
  'util.get_record_source()',
  'util.get_platform_hk()',
  'util.get_migration_run_id()',
  'util.record_migration_run(text,text,text,jsonb)',
  'audit.record_event(bytea,text,text,text,jsonb,text,text)',
] as const;

export const prerequisiteChecks: CheckGroup = groupOf('prerequisites', [
  {
    name: 'server version is supported',
    run: async (context) => {
      const major = Math.floor(context.serverVersionNum / 10_000);
      const version = (await context.client.query<{ version: string }>(`SELECT current_setting('server_version') AS version`)).rows[0].version;
      return expectThat(major >= MIN_SERVER_MAJOR && major <= MAX_SERVER_MAJOR, `PostgreSQL ${version} (major ${major})`, `major ${MIN_SERVER_MAJOR} to ${MAX_SERVER_MAJOR}`);
    },
  },
  {
    name: 'platform schemas exist',
    run: async (context) => {
      const rows = await context.client.query<{ name: string }>(`SELECT nspname AS name FROM pg_catalog.pg_namespace WHERE nspname = ANY ($1::text[])`, [REQUIRED_SCHEMAS]);
      const present = new Set(rows.rows.map((row) => row.name));
      const missing = REQUIRED_SCHEMAS.filter((schema) => !present.has(schema));
      return expectThat(missing.length === 0, `missing ${listText(missing)}`, `schemas ${listText([...REQUIRED_SCHEMAS])}`);
    },
  },
  {
    name: 'platform tables exist',
    run: async (context) => {
      const rows = await context.client.query<{ name: string }>(`SELECT name FROM unnest($1::text[]) AS name WHERE to_regclass(name) IS NULL`, [REQUIRED_TABLES]);
      const missing = rows.rows.map((row) => row.name);
      return expectThat(missing.length === 0, `missing ${listText(missing)}`, `${REQUIRED_TABLES.length} tables of V000`);
    },
  },
  {
    name: 'platform functions exist',
    run: async (context) => {
      const rows = await context.client.query<{ name: string }>(`SELECT name FROM unnest($1::text[]) AS name WHERE to_regprocedure(name) IS NULL`, [REQUIRED_FUNCTIONS]);
      const missing = rows.rows.map((row) => row.name);
      return expectThat(missing.length === 0, `missing ${listText(missing)}`, `${REQUIRED_FUNCTIONS.length} functions of V000`);
    },
  },
  {
    name: 'pgcrypto is installed',
    run: async (context) => {
      const rows = await context.client.query<{ version: string; schema: string }>(
        `SELECT e.extversion AS version, n.nspname AS schema
         FROM pg_catalog.pg_extension AS e
         JOIN pg_catalog.pg_namespace AS n ON n.oid = e.extnamespace
         WHERE e.extname = 'pgcrypto'`,
      );
      const row = rows.rows[0];
      return expectThat(row?.schema === 'public', row ? `pgcrypto ${row.version} in schema ${row.schema}` : 'not installed', 'pgcrypto in schema public');
    },
  },
]);
