import { AstBody, QualifiedName, forEachNode, formatName, isSameName, relationOf, relationsReadBy, unwrap } from './ast';
import { CheckedFile, Detection, deployStatementsOf, detectAt, statementsOf } from './detection';
import { VisitedStatement } from './walk';

/**
 * OV601: a rollback that deletes or truncates rows must copy them first, in the same file, so
 * that a rollback run by mistake can be repaired. A copy is recognised by its source table: an
 * INSERT ... SELECT, CREATE TABLE ... AS, SELECT ... INTO or COPY ... TO reading the table, also
 * inside DO blocks and in EXECUTE format() templates whose table names are constants. A DELETE
 * inside a WITH of an INSERT (`WITH gone AS (DELETE ... RETURNING *) INSERT INTO backup ...`) is
 * its own backup.
 *
 * NOTE: in a format() template a table named by a non-constant argument becomes DYNAMIC_NAME, so a
 * DELETE from a run-time table counts as backed up by any earlier copy from a run-time table. The
 * linter cannot prove that both name the same table.
 */
export function checkRollbackBackups(file: CheckedFile): Detection[] {
  const detections: Detection[] = [];
  const copied: QualifiedName[] = [];
  const created: QualifiedName[] = [];

  for (const statement of deployStatementsOf(file)) {
    for (const target of deletedBy(statement)) {
      if (copied.some((source) => isSameName(source, target.table))) continue;
      if (created.some((table) => isSameName(table, target.table))) continue;
      detections.push(detectAt('OV601', statement, `${target.verb} ${formatName(target.table)} removes rows that no earlier statement in this rollback copies to a backup`));
    }

    copied.push(...copiedBy(statement));
    if (statement.type === 'CreateStmt') {
      const table = relationOf(statement.node.relation);
      if (table !== undefined) created.push(table);
    }
  }

  return detections;
}

interface Removal {
  readonly verb: 'DELETE FROM' | 'TRUNCATE';
  readonly table: QualifiedName;
}

function deletedBy(statement: VisitedStatement): Removal[] {
  if (statement.type === 'TruncateStmt') {
    return (statement.node.relations ?? [])
      .map((relation: AstBody) => relationOf(unwrap(relation, 'RangeVar')))
      .filter((table: QualifiedName | undefined): table is QualifiedName => table !== undefined)
      .map((table: QualifiedName) => ({ verb: 'TRUNCATE' as const, table }));
  }

  const removals: Removal[] = [];
  const isSelfBackup = statement.type === 'InsertStmt';
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

function copiedBy(statement: VisitedStatement): QualifiedName[] {
  const node = statement.node;
  switch (statement.type) {
    case 'InsertStmt':
      return relationsReadBy(node.selectStmt);
    case 'CreateTableAsStmt':
      return relationsReadBy(node.query);
    case 'SelectStmt':
      return node.intoClause === undefined ? [] : relationsReadBy(node.fromClause);
    case 'CopyStmt': {
      if (node.is_from === true) return [];
      const table = relationOf(node.relation);
      return table === undefined ? relationsReadBy(node.query) : [table];
    }
    default:
      return [];
  }
}
