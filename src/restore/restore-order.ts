import type { ClientBase } from 'pg';

/**
 * Sorts qualified table names (`schema.table`) so that every table comes after the tables its
 * foreign keys reference, as recorded in pg_constraint: hubs before the satellites and links that
 * point at them. Tables that do not depend on each other keep alphabetical order, and a foreign
 * key of a table to itself is ignored. Tables caught in a cycle of foreign keys come last, in
 * alphabetical order. Reads only.
 */
export async function sortByForeignKeys(client: ClientBase, tables: readonly string[]): Promise<string[]> {
  const result = await client.query<{ child: string; parent: string }>(
    `SELECT DISTINCT
            child_namespace.nspname || '.' || child.relname AS child,
            parent_namespace.nspname || '.' || parent.relname AS parent
     FROM pg_catalog.pg_constraint AS constraint_row
     JOIN pg_catalog.pg_class AS child ON child.oid = constraint_row.conrelid
     JOIN pg_catalog.pg_namespace AS child_namespace ON child_namespace.oid = child.relnamespace
     JOIN pg_catalog.pg_class AS parent ON parent.oid = constraint_row.confrelid
     JOIN pg_catalog.pg_namespace AS parent_namespace ON parent_namespace.oid = parent.relnamespace
     WHERE constraint_row.contype = 'f'
       AND constraint_row.conrelid <> constraint_row.confrelid
       AND constraint_row.conrelid = ANY ($1::pg_catalog.regclass[])
       AND constraint_row.confrelid = ANY ($1::pg_catalog.regclass[])`,
    [tables.map(quoteQualifiedName)],
  );

  const parentsOf = new Map<string, Set<string>>(tables.map((table) => [table, new Set<string>()]));
  for (const edge of result.rows) parentsOf.get(edge.child)?.add(edge.parent);

  const ordered: string[] = [];
  const remaining = new Set([...tables].sort());
  while (remaining.size > 0) {
    const ready = [...remaining].filter((table) => [...(parentsOf.get(table) ?? [])].every((parent) => !remaining.has(parent)));
    const batch = ready.length > 0 ? ready : [...remaining];
    for (const table of batch) {
      ordered.push(table);
      remaining.delete(table);
    }
  }
  return ordered;
}

function quoteQualifiedName(qualified: string): string {
  const [schema, table] = qualified.split('.');
  return `"${schema.replace(/"/g, '""')}"."${table.replace(/"/g, '""')}"`;
}
