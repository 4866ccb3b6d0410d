import { AstBody, QualifiedName, forEachNode, formatName, isSameName, qualifiedNameOf, relationOf, relationsReadBy, stringOf, unwrap } from './ast';
import { CheckedFile, Detection, deployStatementsOf, detectAt, statementsOf } from './detection';
import { VisitedStatement } from './walk';

/**
 * OV601: a rollback that deletes or truncates rows must copy them first, in the same file, so
 * that a rollback run by mistake can be repaired. A copy is recognised by its source table: an
 * INSERT ... SELECT, CREATE TABLE ... AS, SELECT ... INTO or COPY ... TO a file or program reading
 * the table, also inside DO blocks and in EXECUTE format() templates whose table names are
 * constants. A DELETE inside a WITH of an INSERT (`WITH gone AS (DELETE ... RETURNING *) INSERT
 * INTO backup ...`) is its own backup. Only a permanent table keeps a copy: a temporary table is
 * gone at the end of the session and an unlogged one after a crash, and COPY TO STDOUT keeps
 * nothing in the database or on the server.
 *
 * NOTE: in a format() template a table named by a non-constant argument becomes DYNAMIC_NAME, so a
 * DELETE from a run-time table counts as backed up by any earlier copy from a run-time table. The
 * linter cannot prove that both name the same table.
 */
export function checkRollbackBackups(file: CheckedFile): Detection[] {
  const detections: Detection[] = [];
  const copied: QualifiedName[] = [];
  const created: QualifiedName[] = [];
  const transient: QualifiedName[] = [];

  for (const statement of deployStatementsOf(file)) {
    for (const target of deletedBy(statement)) {
      if (copied.some((source) => isSameName(source, target.table))) continue;
      if (created.some((table) => isSameName(table, target.table))) continue;
      detections.push(detectAt('OV601', statement, `${target.verb} ${formatName(target.table)} removes rows that no earlier statement in this rollback copies to a backup`));
    }

    copied.push(...copiedBy(statement, transient));
    if (statement.type === 'CreateStmt') {
      const table = relationOf(statement.node.relation);
      if (table !== undefined) created.push(table);
      if (table !== undefined && !isPermanent(statement.node.relation)) transient.push(table);
    }
  }

  return detections;
}

/** Schema of the audit tables, whose rows are the platform's history. */
const AUDIT_SCHEMA = 'audit';
const MIGRATION_LOG: QualifiedName = { schema: 'util', name: 'migration_log' };

/**
 * OV602: DELETE, TRUNCATE or DROP of an audit table (any table in the audit schema), of the
 * audit schema, or of util.migration_log, in any file. Function bodies are checked too, because a
 * function that removes history does so whenever it is called. An unqualified `migration_log`
 * counts as the log. An unqualified audit table cannot be told from others and is not reported.
 */
export function checkHistoryRemoval(file: CheckedFile): Detection[] {
  const detections: Detection[] = [];

  for (const statement of statementsOf(file)) {
    for (const removal of historyRemovedBy(statement)) {
      detections.push(detectAt('OV602', statement, `${removal} destroys history: audit rows and the migration log must outlive every migration and rollback`));
    }
  }

  return detections;
}

function historyRemovedBy(statement: VisitedStatement): string[] {
  const removals: string[] = [];
  const isHistory = (table: QualifiedName): boolean => table.schema === AUDIT_SCHEMA || isSameName(table, MIGRATION_LOG);

  for (const removal of deletedBy(statement, false)) {
    if (isHistory(removal.table)) removals.push(`${removal.verb} ${formatName(removal.table)}`);
  }

  if (statement.type !== 'DropStmt') return removals;
  const drop = statement.node;
  for (const object of drop.objects ?? []) {
    if (drop.removeType === 'OBJECT_SCHEMA') {
      const schema = stringOf(object);
      if (schema === AUDIT_SCHEMA) removals.push(`DROP SCHEMA ${schema}`);
      continue;
    }
    if (!['OBJECT_TABLE', 'OBJECT_FOREIGN_TABLE'].includes(drop.removeType)) continue;
    const table = qualifiedNameOf(unwrap(object, 'List')?.items);
    if (table !== undefined && isHistory(table)) removals.push(`DROP TABLE ${formatName(table)}`);
  }
  return removals;
}

/** Returns true for a table that survives the session and a crash: not TEMPORARY, not UNLOGGED. */
function isPermanent(rangeVar: AstBody): boolean {
  const persistence = rangeVar?.relpersistence ?? 'p';
  return persistence === 'p' && rangeVar?.schemaname !== 'pg_temp';
}

interface Removal {
  readonly verb: 'DELETE FROM' | 'TRUNCATE';
  readonly table: QualifiedName;
}

/**
 * Returns the tables a statement deletes rows from. With `exemptSelfBackup`, a DELETE ... RETURNING
 * in the WITH of an INSERT is left out, because it copies its own rows.
 */
function deletedBy(statement: VisitedStatement, exemptSelfBackup = true): Removal[] {
  if (statement.type === 'TruncateStmt') {
    return (statement.node.relations ?? [])
      .map((relation: AstBody) => relationOf(unwrap(relation, 'RangeVar')))
      .filter((table: QualifiedName | undefined): table is QualifiedName => table !== undefined)
      .map((table: QualifiedName) => ({ verb: 'TRUNCATE' as const, table }));
  }

  const removals: Removal[] = [];
  const isSelfBackup = exemptSelfBackup && statement.type === 'InsertStmt';
  const add = (deleteNode: AstBody): void => {
    const table = relationOf(deleteNode.relation);
    if (table !== undefined && !(isSelfBackup && deleteNode.returningList !== undefined)) removals.push({ verb: 'DELETE FROM', table });
  };

  if (statement.type === 'DeleteStmt') add(statement.node);
  forEachNode(statement.node.withClause, (type, body) => {
    if (type === 'DeleteStmt') add(body);
  });
  return removals;
}

/** Returns the tables whose rows a statement copies into a permanent table, a file or a program. */
function copiedBy(statement: VisitedStatement, transient: readonly QualifiedName[]): QualifiedName[] {
  const node = statement.node;
  switch (statement.type) {
    case 'InsertStmt': {
      const target = relationOf(node.relation);
      const isTransient = !isPermanent(node.relation) || (target !== undefined && transient.some((table) => isSameName(table, target)));
      return isTransient ? [] : relationsReadBy(node.selectStmt);
    }
    case 'CreateTableAsStmt':
      return isPermanent(node.into?.rel) ? relationsReadBy(node.query) : [];
    case 'SelectStmt':
      return node.intoClause === undefined || !isPermanent(node.intoClause.rel) ? [] : relationsReadBy(node.fromClause);
    case 'CopyStmt': {
      if (node.is_from === true || node.filename === undefined) return [];
      const table = relationOf(node.relation);
      return table === undefined ? relationsReadBy(node.query) : [table];
    }
    default:
      return [];
  }
}
