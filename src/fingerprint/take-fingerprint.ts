import type { ClientBase } from 'pg';

import { objectKeyOf } from './fingerprint';
import type { CatalogObject, Fingerprint, TableRows } from './fingerprint';
import { readCatalog } from './read-catalog';
import { readTableRows } from './read-table-rows';

export interface TakeFingerprintOptions {
  /** Schemas to cover. Default: every schema except pg_catalog, information_schema, pg_toast and temporary schemas. */
  readonly schemas?: readonly string[];
  /**
   * Tables whose rows are not read, as `schema.table` patterns where `*` matches any characters
   * (`audit.*`). Use it for history tables that grow on every run; their catalog entries stay.
   */
  readonly ignoreTables?: readonly string[];
}

const USER_SCHEMAS_SQL = `
SELECT nspname::text AS name
FROM pg_catalog.pg_namespace
WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND nspname NOT LIKE 'pg\\_temp\\_%'
  AND nspname NOT LIKE 'pg\\_toast\\_temp\\_%'
ORDER BY 1`;

// Settings that change how definitions and values print. search_path set to pg_catalog alone
// makes pg_get_expr and friends schema-qualify every user object, so the text does not depend on
// the caller's path.
const PINNED_SETTINGS: Readonly<Record<string, string>> = {
  search_path: 'pg_catalog',
  TimeZone: 'UTC',
  DateStyle: 'ISO, YMD',
  IntervalStyle: 'postgres',
  bytea_output: 'hex',
  extra_float_digits: '1',
};

/**
 * Takes the fingerprint of the database `client` is connected to: its catalog objects (by name,
 * never by OID) and, for every ordinary table, a row count and an order-independent content hash
 * with run-dependent columns masked (see `maskReasonOf`).
 *
 * Read-only. It sets the session settings in `PINNED_SETTINGS` for its own queries and restores
 * the previous values before it returns or throws. Throws the driver's error when a query fails.
 *
 * @example
 * const before = await takeFingerprint(client);
 * await client.query('ALTER TABLE auth.tenant_h ADD COLUMN note text');
 * const after = await takeFingerprint(client);
 * formatDifferences(diffFingerprints(before, after)); // "+ column auth.tenant_h.note"
 */
export async function takeFingerprint(client: ClientBase, options: TakeFingerprintOptions = {}): Promise<Fingerprint> {
  return withPinnedSettings(client, async () => {
    const schemas = [...(options.schemas ?? (await readUserSchemas(client)))].sort();

    // NOTE: the statements run one after another without a shared snapshot, so a session that
    // changes the database meanwhile can make the fingerprint inconsistent.
    const catalog = await readCatalog(client, schemas);
    const tables = await readTableRows(client, schemas, options.ignoreTables);

    return { formatVersion: 1, schemas, objects: keyedObjects(catalog), tableRows: keyedTables(tables) };
  });
}

async function readUserSchemas(client: ClientBase): Promise<string[]> {
  return (await client.query<{ name: string }>(USER_SCHEMAS_SQL)).rows.map((row) => row.name);
}

async function withPinnedSettings<T>(client: ClientBase, work: () => Promise<T>): Promise<T> {
  const names = Object.keys(PINNED_SETTINGS);
  const previous = await client.query<{ name: string; value: string }>(
    'SELECT name, pg_catalog.current_setting(name) AS value FROM pg_catalog.unnest($1::text[]) AS name',
    [names],
  );

  await applySettings(client, PINNED_SETTINGS);
  try {
    return await work();
  } finally {
    await applySettings(client, Object.fromEntries(previous.rows.map((row) => [row.name, row.value])));
  }
}

async function applySettings(client: ClientBase, settings: Readonly<Record<string, string>>): Promise<void> {
  await client.query(
    'SELECT pg_catalog.set_config(name, value, false) FROM unnest($1::text[], $2::text[]) AS setting(name, value)',
    [Object.keys(settings), Object.values(settings)],
  );
}

function keyedObjects(objects: readonly CatalogObject[]): Record<string, CatalogObject> {
  const sorted = [...objects].sort((a, b) => compareText(objectKeyOf(a), objectKeyOf(b)));
  return Object.fromEntries(sorted.map((object) => [objectKeyOf(object), object]));
}

function keyedTables(tables: readonly TableRows[]): Record<string, TableRows> {
  const sorted = [...tables].sort((a, b) => compareText(a.table, b.table));
  return Object.fromEntries(sorted.map((table) => [table.table, table]));
}

function compareText(a: string, b: string): number {
  if (a < b) return -1;
  return a > b ? 1 : 0;
}
