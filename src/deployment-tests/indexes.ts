import type { ClientBase } from 'pg';

import { expectEqual, type CheckOutcome, groupOf, type CheckGroup, type SimpleCheck } from './check-result';
import { SYSTEM_OPERATIONS, type SystemIndex } from './system-operations';

interface IndexFacts {
  readonly schema: string;
  readonly table: string;
  readonly valid: boolean;
  readonly ready: boolean;
}

async function readIndex(client: ClientBase, index: SystemIndex): Promise<IndexFacts | undefined> {
  const rows = (
    await client.query<IndexFacts>(
      `SELECT tn.nspname AS schema, t.relname AS table, x.indisvalid AS valid, x.indisready AS ready
       FROM pg_catalog.pg_class AS i
       JOIN pg_catalog.pg_namespace AS n ON n.oid = i.relnamespace
       JOIN pg_catalog.pg_index AS x ON x.indexrelid = i.oid
       JOIN pg_catalog.pg_class AS t ON t.oid = x.indrelid
       JOIN pg_catalog.pg_namespace AS tn ON tn.oid = t.relnamespace
       WHERE i.relkind = 'i'
         AND i.relname = $1`,
      [index.name],
    )
  ).rows;
  return rows.find((row) => row.schema === index.schema) ?? rows[0];
}

function existsCheck(index: SystemIndex): SimpleCheck {
  return {
    name: `${index.name} is on ${index.schema}.${index.table}`,
    run: async (context): Promise<CheckOutcome> => {
      const facts = await readIndex(context.client, index);
      return expectEqual(facts ? `index on ${facts.schema}.${facts.table}` : 'missing', `index on ${index.schema}.${index.table}`);
    },
  };
}

function validCheck(index: SystemIndex): SimpleCheck {
  return {
    name: `${index.name} is valid`,
    run: async (context): Promise<CheckOutcome> => {
      const facts = await readIndex(context.client, index);
      const found = facts ? `indisvalid ${facts.valid}, indisready ${facts.ready}` : 'missing';
      return expectEqual(found, 'indisvalid true, indisready true', 'An invalid index, left by a failed CREATE INDEX CONCURRENTLY, is never used by queries; rebuild it with REINDEX INDEX.');
    },
  };
}

export const indexChecks: CheckGroup = groupOf(
  'indexes',
  SYSTEM_OPERATIONS.indexes.flatMap((index) => [existsCheck(index), validCheck(index)]),
);
