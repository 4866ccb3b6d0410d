import { escapeIdentifier, escapeLiteral } from 'pg';
import type { ClientBase, QueryResult } from 'pg';

import { SMALL_TABLE_ROW_LIMIT } from './fingerprint';
import type { MaskedColumn, TableRows } from './fingerprint';
import { maskReasonOf } from './mask-reason';
import { matchesAnyNamePattern } from './name-pattern';

/** Text that a masked column shows in a row text when it is not NULL. */
export const MASKED_VALUE = '<masked>';

const TABLE_COLUMNS_SQL = `
SELECT
  format('%I.%I', n.nspname, c.relname) AS table_name,
  n.nspname AS schema,
  c.relname AS relation,
  a.attname::text AS column_name,
  (CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END)::regtype::text AS base_type,
  pg_get_expr(d.adbin, d.adrelid) AS default_expression,
  a.attidentity <> '' AS is_identity
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
LEFT JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_type AS t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = ANY ($1::text[])
  AND c.relkind = 'r'
  AND NOT EXISTS (
    SELECT 1 FROM pg_depend AS dep
    WHERE dep.classid = 'pg_class'::regclass AND dep.objid = c.oid AND dep.deptype = 'e'
  )
ORDER BY n.nspname, c.relname, a.attnum`;

interface TableColumnRow {
  readonly table_name: string;
  readonly schema: string;
  readonly relation: string;
  readonly column_name: string | null;
  readonly base_type: string | null;
  readonly default_expression: string | null;
  readonly is_identity: boolean | null;
}

interface TablePlan {
  readonly table: string;
  readonly schema: string;
  readonly relation: string;
  readonly columns: { readonly name: string; readonly mask: MaskedColumn | null }[];
}

/**
 * Counts and hashes the rows of every ordinary table (relkind `r`, partitions included, parents
 * read with ONLY) of the given schemas. Tables matching `ignoreTables` are listed with null count
 * and hash. The hash is computed by the server, so no table is transferred to the client except
 * those with fewer than `SMALL_TABLE_ROW_LIMIT` rows, whose row texts are kept for the diff.
 * Every table is read by one simple-protocol query that carries two statements per table, so the
 * whole read costs two round trips however many tables there are.
 */
export async function readTableRows(
  client: ClientBase,
  schemas: readonly string[],
  ignoreTables: readonly string[] | undefined,
): Promise<TableRows[]> {
  const plans = planTables((await client.query<TableColumnRow>(TABLE_COLUMNS_SQL, [schemas])).rows);
  const readPlans = plans.filter((plan) => !matchesAnyNamePattern(ignoreTables, `${plan.schema}.${plan.relation}`));
  const readResults = await readSummariesAndSamples(client, readPlans);

  return plans.map((plan) => {
    const maskedColumns = plan.columns.flatMap((column) => (column.mask === null ? [] : [column.mask]));
    const unread = { table: plan.table, schema: plan.schema, relation: plan.relation, maskedColumns };
    const read = readResults.get(plan.table);
    if (read === undefined) return { ...unread, rowCount: null, contentHash: null, rows: null };
    return { ...unread, ...read };
  });
}

interface ReadResult {
  readonly rowCount: number;
  readonly contentHash: string;
  readonly rows: readonly string[] | null;
}

// Statement 2i is the summary of table i and statement 2i + 1 its first SMALL_TABLE_ROW_LIMIT row
// texts, which are all of its rows exactly when the summary counts fewer than that.
async function readSummariesAndSamples(client: ClientBase, plans: readonly TablePlan[]): Promise<Map<string, ReadResult>> {
  const results = new Map<string, ReadResult>();
  if (plans.length === 0) return results;

  const statements = plans.flatMap((plan) => {
    const rowTexts = rowTextsQueryOf(plan);
    return [rowSummarySqlOf(rowTexts), sampleRowsSqlOf(rowTexts)];
  });
  // With more than one statement node-postgres returns one result per statement.
  const batch = (await client.query(statements.join(';\n'))) as unknown as QueryResult[];

  plans.forEach((plan, index) => {
    const summary = batch[2 * index].rows[0] as { row_count: string; content_hash: string };
    const sample = batch[2 * index + 1].rows as { row_text: string }[];
    const rowCount = Number(summary.row_count);
    const rows = rowCount < SMALL_TABLE_ROW_LIMIT ? sample.map((row) => row.row_text) : null;
    results.set(plan.table, { rowCount, contentHash: summary.content_hash, rows });
  });
  return results;
}

function planTables(columnRows: readonly TableColumnRow[]): TablePlan[] {
  const plans = new Map<string, TablePlan>();

  for (const row of columnRows) {
    let plan = plans.get(row.table_name);
    if (plan === undefined) {
      plan = { table: row.table_name, schema: row.schema, relation: row.relation, columns: [] };
      plans.set(row.table_name, plan);
    }

    // A table without columns comes back as one row with NULL column fields (LEFT JOIN).
    if (row.column_name === null) continue;

    const reason = maskReasonOf({
      name: row.column_name,
      baseType: row.base_type ?? '',
      defaultExpression: row.default_expression,
      isIdentity: row.is_identity === true,
    });
    plan.columns.push({ name: row.column_name, mask: reason === null ? null : { column: row.column_name, reason } });
  }

  return [...plans.values()];
}

// One row text per row: the JSON object of the kept columns in column order, with each masked
// column replaced by MASKED_VALUE or null.
function rowTextsQueryOf(plan: TablePlan): string {
  const selectList = plan.columns
    .map((column) => {
      const name = escapeIdentifier(column.name);
      if (column.mask === null) return `source.${name}`;
      return `CASE WHEN source.${name} IS NULL THEN NULL ELSE ${escapeLiteral(MASKED_VALUE)} END AS ${name}`;
    })
    .join(', ');

  const from = `ONLY ${escapeIdentifier(plan.schema)}.${escapeIdentifier(plan.relation)} AS source`;
  return `SELECT row_to_json(kept)::text AS row_text FROM (SELECT ${selectList} FROM ${from}) AS kept`;
}

// At most SMALL_TABLE_ROW_LIMIT row texts, sorted; the LIMIT lets the scan of a large table stop
// early, because its rows are not kept anyway.
function sampleRowsSqlOf(rowTexts: string): string {
  return `SELECT sample.row_text FROM (${rowTexts} LIMIT ${SMALL_TABLE_ROW_LIMIT}) AS sample ORDER BY 1`;
}

// The content hash is order-independent and counts duplicates: the md5 of each row text is split
// into two 64-bit halves, each half is summed as numeric (no overflow), and the count and both
// sums are hashed together. The server streams the rows, so memory use does not grow with the table.
function rowSummarySqlOf(rowTexts: string): string {
  return `
SELECT
  count(*)::text AS row_count,
  md5(
    count(*)::text
    || ':' || coalesce(sum(('x' || substr(row_hash, 1, 16))::bit(64)::bigint::numeric), 0)::text
    || ':' || coalesce(sum(('x' || substr(row_hash, 17, 16))::bit(64)::bigint::numeric), 0)::text
  ) AS content_hash
FROM (SELECT md5(row_text) AS row_hash FROM (${rowTexts}) AS row_texts) AS row_hashes`;
}
