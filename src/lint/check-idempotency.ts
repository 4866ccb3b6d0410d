import { AstBody, QualifiedName, forEachNode, formatName, isSameName, nameParts, qualifiedNameOf, relationOf, relationsReadBy, someNode, stringOf, unwrap } from './ast';
import { CheckedFile, Detection, deployStatementsOf, detectAt, statementsOf } from './detection';
import { isGuardedByAbsence } from './guards';
import { DYNAMIC_NAME, VisitedStatement } from './walk';

/** An object a statement creates, and whether the statement itself tolerates it existing. */
interface Creation {
  /** Object kind as SQL names it (table, index, trigger ...). */
  readonly kind: string;
  /** Kind as DROP names it, to recognise `DROP ... IF EXISTS` followed by CREATE. */
  readonly dropType?: string;
  readonly name?: QualifiedName;
  readonly tolerant: boolean;
  /** The clause that would make the statement tolerant, for the message. */
  readonly missing: string;
}

/** OV201: checks that every CREATE (and ADD COLUMN, ADD CONSTRAINT, ADD VALUE) can run twice. */
export function checkCreateGuards(file: CheckedFile): Detection[] {
  const detections: Detection[] = [];
  const statements = deployStatementsOf(file);

  statements.forEach((statement, position) => {
    for (const creation of creationsOf(statement)) {
      if (creation.tolerant || isGuardedByAbsence(statement.context)) continue;
      if (isNamedAtRunTime(statement, creation)) continue;
      if (isDroppedEarlier(statements.slice(0, position + 1), statement, creation)) continue;

      const name = creation.name === undefined ? '' : ` ${formatName(creation.name)}`;
      detections.push(
        detectAt('OV201', statement, `CREATE ${creation.kind}${name} fails when the file runs again: add ${creation.missing}`),
      );
    }
  });

  return detections;
}

/** OV202: checks that every INSERT is skipped or merged when its row already exists. */
export function checkInsertGuards(file: CheckedFile): Detection[] {
  const detections: Detection[] = [];
  const statements = deployStatementsOf(file);

  statements.forEach((statement, position) => {
    if (statement.type !== 'InsertStmt') return;
    const insert = statement.node;
    const target = relationOf(insert.relation);
    if (insert.relation?.relpersistence === 't') return;
    if (insert.onConflictClause !== undefined || isAntiJoinSelect(insert.selectStmt)) return;
    if (isGuardedByAbsence(statement.context)) return;
    if (file.kind === 'rollback' && isCopyOfRowsDeletedLater(insert, statements.slice(position + 1))) return;

    const name = target === undefined ? '' : ` into ${formatName(target)}`;
    detections.push(
      detectAt(
        'OV202',
        statement,
        `INSERT${name} has no ON CONFLICT clause and no existence guard, so running the file again adds the rows again`,
      ),
    );
  });

  return detections;
}

/**
 * OV203: an UPDATE in a forward file must converge, so that a second run leaves the rows as the
 * first run did. A SET whose value reads the column it sets (`n = n + 1`, `tags = tags || 'x'`)
 * changes the rows again on every run. An UPDATE without WHERE overwrites every row, including
 * those the application changed since the first run.
 * Guards do not exempt an UPDATE: the rule asks for a statement that converges, not one that is
 * skipped. Temporary tables and UPDATEs inside function bodies are not checked.
 *
 * NOTE: a read inside a subquery is not counted as a self-reference, and neither is a read of
 * another column that the same UPDATE sets (`SET (a, b) = (b, a)`).
 */
export function checkUpdateConvergence(file: CheckedFile): Detection[] {
  const detections: Detection[] = [];
  const temporary: QualifiedName[] = [];

  for (const statement of deployStatementsOf(file)) {
    if (statement.type === 'CreateStmt' && statement.node.relation?.relpersistence === 't') {
      const table = relationOf(statement.node.relation);
      if (table !== undefined) temporary.push(table);
    }

    const updates: AstBody[] = statement.type === 'UpdateStmt' ? [statement.node] : [];
    forEachNode(statement.node.withClause, (type, body) => {
      if (type === 'UpdateStmt') updates.push(body);
    });

    for (const update of updates) {
      const table = relationOf(update.relation);
      if (table === undefined || update.relation?.schemaname === 'pg_temp') continue;
      if (temporary.some((known) => isSameName(known, table))) continue;

      const problem = nonConvergence(update, table);
      if (problem !== undefined) detections.push(detectAt('OV203', statement, `UPDATE ${formatName(table)} ${problem}`));
    }
  }

  return detections;
}

/** Returns why an UPDATE changes its rows again on a second run, or undefined when it converges. */
function nonConvergence(update: AstBody, table: QualifiedName): string | undefined {
  const qualifiers = [table.name, update.relation?.alias?.aliasname].filter((name): name is string => typeof name === 'string');
  const selfReferences: string[] = [];

  for (const target of update.targetList ?? []) {
    const assignment = unwrap(target, 'ResTarget');
    const column: string | undefined = assignment?.name;
    if (column === undefined) continue;
    if (readsColumn(valueOf(assignment.val), column, qualifiers)) selfReferences.push(column);
  }

  if (selfReferences.length > 0) {
    const values = selfReferences.length === 1 ? 'its current value' : 'their current values';
    return `computes ${selfReferences.join(', ')} from ${values}, so each run changes the rows again instead of reaching the same state`;
  }
  if (update.whereClause === undefined) {
    return 'has no WHERE clause: each run overwrites every row, including rows changed since the first run';
  }
  return undefined;
}

/** Returns the value expression of one SET target; for `SET (a, b) = (x, y)`, the element of that column. */
function valueOf(value: AstBody): AstBody {
  const multiple = unwrap(value, 'MultiAssignRef');
  if (multiple === undefined) return value;
  const row = unwrap(multiple.source, 'RowExpr');
  return Array.isArray(row?.args) ? row.args[(multiple.colno ?? 1) - 1] : undefined;
}

/** Returns true when `value` reads `column` of the updated table, outside subqueries. */
function readsColumn(value: AstBody, column: string, qualifiers: readonly string[]): boolean {
  let found = false;
  forEachNode(value, (type, body) => {
    if (found || type === 'SubLink') return false;
    if (type !== 'ColumnRef') return true;

    const fields = nameParts(body.fields);
    if (fields.length === 0 || fields.length !== (body.fields ?? []).length) return false;
    const name = fields[fields.length - 1];
    const qualifier = fields.length > 1 ? fields[fields.length - 2] : undefined;
    if (name === column && (qualifier === undefined || qualifiers.includes(qualifier))) found = true;
    return false;
  });
  return found;
}

/**
 * Returns true for an EXECUTE format() that creates an object named by a run-time value, such as a
 * backup schema named after the run. Such an object may be new on every run, so the linter stays silent.
 */
function isNamedAtRunTime(statement: VisitedStatement, creation: Creation): boolean {
  if (statement.context.dynamic !== 'format' || creation.name === undefined) return false;
  return creation.name.name === DYNAMIC_NAME || creation.name.schema === DYNAMIC_NAME;
}

function creationsOf(statement: VisitedStatement): Creation[] {
  const node = statement.node;
  const single = (creation: Creation): Creation[] => [creation];
  const ifNotExists = (kind: string, dropType: string, name: QualifiedName | undefined, tolerant: boolean): Creation[] =>
    single({ kind, dropType, name, tolerant: tolerant === true, missing: 'IF NOT EXISTS' });
  const orReplace = (kind: string, dropType: string, name: QualifiedName | undefined): Creation[] =>
    single({ kind, dropType, name, tolerant: node.replace === true, missing: 'OR REPLACE' });
  const guardOnly = (kind: string, dropType: string | undefined, name: QualifiedName | undefined): Creation[] =>
    single({ kind, dropType, name, tolerant: false, missing: 'an existence check around it (IF NOT EXISTS (SELECT 1 FROM pg_catalog...) in a DO block)' });

  switch (statement.type) {
    case 'CreateStmt':
      if (node.relation?.relpersistence === 't') return [];
      return ifNotExists('TABLE', 'OBJECT_TABLE', relationOf(node.relation), node.if_not_exists);
    case 'CreateTableAsStmt': {
      if (node.into?.rel?.relpersistence === 't') return [];
      const kind = node.objtype === 'OBJECT_MATVIEW' ? 'MATERIALIZED VIEW' : 'TABLE';
      return ifNotExists(`${kind} ... AS`, node.objtype === 'OBJECT_MATVIEW' ? 'OBJECT_MATVIEW' : 'OBJECT_TABLE', relationOf(node.into?.rel), node.if_not_exists);
    }
    case 'IndexStmt':
      if (node.idxname === undefined) {
        return single({ kind: 'INDEX', tolerant: false, missing: 'a name and IF NOT EXISTS (an unnamed index gets a new name on every run)' });
      }
      return ifNotExists('INDEX', 'OBJECT_INDEX', { name: node.idxname }, node.if_not_exists);
    case 'CreateSchemaStmt':
      return ifNotExists('SCHEMA', 'OBJECT_SCHEMA', { name: node.schemaname ?? '' }, node.if_not_exists);
    case 'CreateSeqStmt':
      return ifNotExists('SEQUENCE', 'OBJECT_SEQUENCE', relationOf(node.sequence), node.if_not_exists);
    case 'CreateExtensionStmt':
      return ifNotExists('EXTENSION', 'OBJECT_EXTENSION', { name: node.extname }, node.if_not_exists);
    case 'CreateStatsStmt':
      return ifNotExists('STATISTICS', 'OBJECT_STATISTIC_EXT', qualifiedNameOf(node.defnames), node.if_not_exists);
    case 'CreateForeignServerStmt':
      return ifNotExists('SERVER', 'OBJECT_FOREIGN_SERVER', { name: node.servername }, node.if_not_exists);
    case 'CreateUserMappingStmt':
      return ifNotExists('USER MAPPING', 'OBJECT_USER_MAPPING', undefined, node.if_not_exists);
    case 'CreateForeignTableStmt':
      return ifNotExists('FOREIGN TABLE', 'OBJECT_FOREIGN_TABLE', relationOf(node.base?.relation), node.base?.if_not_exists);
    case 'ViewStmt':
      if (node.view?.relpersistence === 't') return [];
      return orReplace('VIEW', 'OBJECT_VIEW', relationOf(node.view));
    case 'CreateFunctionStmt':
      return orReplace(node.is_procedure === true ? 'PROCEDURE' : 'FUNCTION', node.is_procedure === true ? 'OBJECT_PROCEDURE' : 'OBJECT_FUNCTION', qualifiedNameOf(node.funcname));
    case 'CreateTrigStmt':
      return orReplace('TRIGGER', 'OBJECT_TRIGGER', { name: node.trigname });
    case 'RuleStmt':
      return orReplace('RULE', 'OBJECT_RULE', { name: node.rulename });
    case 'CreateTransformStmt':
      return orReplace('TRANSFORM', 'OBJECT_TRANSFORM', undefined);
    case 'CreatePLangStmt':
      return orReplace('LANGUAGE', 'OBJECT_LANGUAGE', { name: node.plname });
    case 'CreatePolicyStmt':
      return guardOnly('POLICY', 'OBJECT_POLICY', { name: node.policy_name });
    case 'CreateEnumStmt':
    case 'CompositeTypeStmt':
    case 'CreateRangeStmt':
      return guardOnly('TYPE', 'OBJECT_TYPE', qualifiedNameOf(node.typeName) ?? relationOf(node.typevar));
    case 'CreateDomainStmt':
      return guardOnly('DOMAIN', 'OBJECT_DOMAIN', qualifiedNameOf(node.domainname));
    case 'CreateRoleStmt':
      return guardOnly('ROLE', undefined, { name: node.role });
    case 'CreateEventTrigStmt':
      return guardOnly('EVENT TRIGGER', 'OBJECT_EVENT_TRIGGER', { name: node.trigname });
    case 'CreatePublicationStmt':
      return guardOnly('PUBLICATION', 'OBJECT_PUBLICATION', { name: node.pubname });
    case 'CreateCastStmt':
      return guardOnly('CAST', 'OBJECT_CAST', undefined);
    case 'DefineStmt':
      return defineCreations(node);
    case 'AlterTableStmt':
      return alterTableCreations(node);
    case 'AlterEnumStmt':
      if (node.newVal === undefined) return [];
      return single({ kind: 'enum value', name: { name: node.newVal }, tolerant: node.skipIfNewValExists === true, missing: 'IF NOT EXISTS (ALTER TYPE ... ADD VALUE IF NOT EXISTS)' });
    default:
      return [];
  }
}

function defineCreations(node: AstBody): Creation[] {
  const name = qualifiedNameOf(node.defnames);
  switch (node.kind) {
    case 'OBJECT_AGGREGATE':
      return [{ kind: 'AGGREGATE', dropType: 'OBJECT_AGGREGATE', name, tolerant: node.replace === true, missing: 'OR REPLACE' }];
    case 'OBJECT_COLLATION':
      return [{ kind: 'COLLATION', dropType: 'OBJECT_COLLATION', name, tolerant: node.if_not_exists === true, missing: 'IF NOT EXISTS' }];
    case 'OBJECT_TYPE':
      return [{ kind: 'TYPE', dropType: 'OBJECT_TYPE', name, tolerant: false, missing: 'an existence check around it (IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type ...) in a DO block)' }];
    default:
      return [];
  }
}

/** ADD COLUMN without IF NOT EXISTS and ADD CONSTRAINT (which has no IF NOT EXISTS) fail on the second run. */
function alterTableCreations(node: AstBody): Creation[] {
  const commands: AstBody[] = (node.cmds ?? []).map((command: AstBody) => unwrap(command, 'AlterTableCmd')).filter(Boolean);
  const table = relationOf(node.relation);
  const creations: Creation[] = [];

  for (const command of commands) {
    if (command.subtype === 'AT_AddColumn') {
      const column = unwrap(command.def, 'ColumnDef');
      creations.push({ kind: 'COLUMN', name: { schema: table === undefined ? undefined : formatName(table), name: column?.colname ?? '' }, tolerant: command.missing_ok === true, missing: 'IF NOT EXISTS (ADD COLUMN IF NOT EXISTS)' });
    }
    if (command.subtype === 'AT_AddConstraint') {
      const constraint = unwrap(command.def, 'Constraint');
      const name: string | undefined = constraint?.conname;
      const droppedFirst = name !== undefined && commands.some((other) => other.subtype === 'AT_DropConstraint' && other.missing_ok === true && other.name === name);
      creations.push({
        kind: 'CONSTRAINT',
        name: name === undefined ? undefined : { name },
        tolerant: droppedFirst,
        missing: 'a guard: DROP CONSTRAINT IF EXISTS first, or a DO block checking pg_catalog.pg_constraint',
      });
    }
  }

  return creations;
}

/** Recognises `DROP <kind> IF EXISTS <name>` earlier in the file, which makes the CREATE after it repeatable. */
function isDroppedEarlier(earlier: readonly VisitedStatement[], statement: VisitedStatement, creation: Creation): boolean {
  if (creation.dropType === undefined || creation.name === undefined) return false;
  const created = creation.name;

  return earlier.some((candidate) => {
    if (candidate === statement || candidate.type !== 'DropStmt') return false;
    const drop = candidate.node;
    if (drop.missing_ok !== true || drop.removeType !== creation.dropType) return false;

    return (drop.objects ?? []).some((object: AstBody) => {
      const parts = nameParts(unwrap(object, 'List')?.items ?? unwrap(object, 'ObjectWithArgs')?.objname ?? (stringOf(object) === undefined ? [] : [object]));
      const last = parts[parts.length - 1];
      return last !== undefined && last === created.name;
    });
  });
}

/** Recognises INSERT ... SELECT ... WHERE NOT EXISTS / NOT IN / IS NULL anti-joins and SELECT ... EXCEPT. */
function isAntiJoinSelect(selectStatement: AstBody): boolean {
  const select = unwrap(selectStatement, 'SelectStmt');
  if (select === undefined) return false;
  if (select.op === 'SETOP_EXCEPT') return true;
  if (select.whereClause === undefined) return false;

  return someNode(select.whereClause, (type, body) => {
    if (type === 'NullTest') return body.nulltesttype === 'IS_NULL';
    if (type !== 'BoolExpr' || body.boolop !== 'NOT_EXPR') return false;
    return someNode(body.args, (innerType, inner) => innerType === 'SubLink' && (inner.subLinkType === 'EXISTS_SUBLINK' || inner.subLinkType === 'ANY_SUBLINK'));
  });
}

/**
 * Returns true for a rollback's backup copy. INSERT INTO backup SELECT ... FROM t followed by DELETE FROM t copies
 * nothing on a second run, because the rows are gone: it needs no conflict handling. The same holds
 * for `WITH gone AS (DELETE ... RETURNING *) INSERT INTO backup SELECT * FROM gone`.
 */
function isCopyOfRowsDeletedLater(insert: AstBody, later: readonly VisitedStatement[]): boolean {
  if (someNode(insert.withClause, (type) => type === 'DeleteStmt')) return true;

  const sources = relationsReadBy(insert.selectStmt);
  if (sources.length === 0) return false;

  return later.some((statement) => {
    const targets: QualifiedName[] = [];
    if (statement.type === 'DeleteStmt') {
      const target = relationOf(statement.node.relation);
      if (target !== undefined) targets.push(target);
    }
    if (statement.type === 'TruncateStmt') {
      for (const relation of statement.node.relations ?? []) {
        const target = relationOf(unwrap(relation, 'RangeVar'));
        if (target !== undefined) targets.push(target);
      }
    }
    return targets.some((target) => sources.some((source) => isSameName(source, target)));
  });
}
