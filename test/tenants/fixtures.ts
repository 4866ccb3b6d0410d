import { Client, type ClientBase } from 'pg';

import type { TenantRegistrationRequest } from '../../src/tenants';
import { adminUrl, databaseUrl, withFreshDatabase } from '../helpers/database';
import { deployAll } from '../helpers/platform';

// The tenant tests create databases named regw_*, unless the run chooses its own prefix.
process.env.TEST_DATABASE_PREFIX ??= 'regw_';

export { SYSTEM_TENANT_HK_HEX } from '../helpers/platform';

/** Schemas whose tables carry tenant rows. */
export const TENANT_SCHEMAS = ['auth', 'raw', 'staging', 'audit'] as const;

/** Creates a fresh database, deploys every migration of the repository, and runs `fn` on it. */
export function withRegistrationDatabase(fn: (client: Client, url: string) => Promise<void>): Promise<void> {
  return withFreshDatabase(async (client, url) => {
    await deployAll(client);
    await fn(client, url);
  });
}

/** A deployed database shared by the tests of one suite. */
export interface SharedDatabase {
  readonly client: Client;
  readonly url: string;
  /** Closes the client and drops the database. */
  close(): Promise<void>;
}

let databaseCounter = 0;

/**
 * Creates a database with every migration deployed, for suites whose tests may share one (use it
 * in `before` and close it in `after`). The name starts with TEST_DATABASE_PREFIX.
 */
export async function openSharedDatabase(): Promise<SharedDatabase> {
  databaseCounter += 1;
  const name = `${process.env.TEST_DATABASE_PREFIX}${process.pid}_${Date.now().toString(36)}_s${databaseCounter}`.toLowerCase().slice(0, 63);
  await runOnServer(`CREATE DATABASE "${name}"`);

  const url = databaseUrl(adminUrl(), name);
  const client = new Client({ connectionString: url });
  try {
    await client.connect();
    await deployAll(client);
  } catch (error) {
    await client.end().catch(() => undefined);
    await runOnServer(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    throw error;
  }

  return {
    client,
    url,
    close: async () => {
      await client.end().catch(() => undefined);
      await runOnServer(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    },
  };
}

async function runOnServer(sql: string): Promise<void> {
  const admin = new Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    await admin.query(sql);
  } finally {
    await admin.end();
  }
}

let tenantCounter = 0;

/** Returns a tenant name that no other registration of this process uses. */
export function uniqueTenantName(prefix = 'Tenant'): string {
  tenantCounter += 1;
  return `${prefix} ${process.pid} ${tenantCounter}`;
}

/** Returns a request that passes every rule, with `overrides` replacing or adding fields. */
export function validRequest(overrides: Partial<Record<keyof TenantRegistrationRequest, unknown>> = {}): TenantRegistrationRequest {
  return {
    tenant_name: uniqueTenantName(),
    admin_email: 'admin@example.com',
    admin_password: 'correct horse battery staple',
    admin_first_name: 'Ada',
    admin_last_name: 'Lovelace',
    ...overrides,
  } as TenantRegistrationRequest;
}

/** Returns every ordinary table of the tenant schemas as `schema.table`, in name order. */
export async function tenantSchemaTables(client: ClientBase): Promise<string[]> {
  const result = await client.query<{ name: string }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS name
     FROM pg_class AS c
     JOIN pg_namespace AS n ON n.oid = c.relnamespace
     WHERE n.nspname = ANY ($1) AND c.relkind IN ('r', 'p')
     ORDER BY 1`,
    [TENANT_SCHEMAS],
  );
  return result.rows.map((row) => row.name);
}

/** Returns the tables of any user schema that have a tenant_hk column, which row level security must protect. */
export async function tenantScopedTables(client: ClientBase): Promise<string[]> {
  const result = await client.query<{ name: string }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS name
     FROM pg_class AS c
     JOIN pg_namespace AS n ON n.oid = c.relnamespace
     JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attname = 'tenant_hk' AND NOT a.attisdropped
     WHERE c.relkind IN ('r', 'p')
       AND n.nspname NOT IN ('pg_catalog', 'information_schema')
       AND n.nspname NOT LIKE 'pg\\_%'
       AND n.nspname NOT LIKE 'onevault\\_backup\\_%'
     ORDER BY 1`,
  );
  return result.rows.map((row) => row.name);
}

/** Returns the row count of each table, read as the connected (superuser) role. */
export async function countRows(client: ClientBase, tables: readonly string[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of tables) {
    const result = await client.query<{ count: string }>(`SELECT count(*) FROM ${table}`);
    counts[table] = Number(result.rows[0].count);
  }
  return counts;
}

/** Returns the number of rows in all auth tables. An unchanged number means a request left no auth rows. */
export async function countAuthRows(client: ClientBase): Promise<number> {
  const tables = (await tenantSchemaTables(client)).filter((table) => table.startsWith('auth.'));
  const counts = await countRows(client, tables);
  return Object.values(counts).reduce((sum, count) => sum + count, 0);
}

/** Returns the first column of the first row. */
export async function scalar<T>(client: ClientBase, sql: string, values: unknown[] = []): Promise<T> {
  const result = await client.query(sql, values);
  return Object.values(result.rows[0] ?? {})[0] as T;
}
