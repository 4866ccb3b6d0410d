import { AstBody, QualifiedName, formatName, isSameName, nameParts, relationOf, unwrap } from './ast';
import { CheckedFile, Detection, deployStatementsOf, detectAt, statementsOf } from './detection';
import { isGuardedByExistenceCheck } from './guards';
import { VisitedStatement } from './walk';

/** DROP targets that break code still using them, with the word DROP uses. */
const BREAKING_DROPS: ReadonlyMap<string, string> = new Map([
  ['OBJECT_TABLE', 'TABLE'],
  ['OBJECT_VIEW', 'VIEW'],
  ['OBJECT_MATVIEW', 'MATERIALIZED VIEW'],
  ['OBJECT_FUNCTION', 'FUNCTION'],
  ['OBJECT_PROCEDURE', 'PROCEDURE'],
  ['OBJECT_ROUTINE', 'ROUTINE'],
  ['OBJECT_AGGREGATE', 'AGGREGATE'],
  ['OBJECT_TYPE', 'TYPE'],
  ['OBJECT_DOMAIN', 'DOMAIN'],
  ['OBJECT_SCHEMA', 'SCHEMA'],
  ['OBJECT_SEQUENCE', 'SEQUENCE'],
]);

/**
 * OV301, OV311 to OV315: forward-file changes that lock or break what already exists. Objects the
 * same file created earlier are exempt, because no running code can depend on them yet. OV312 is
 * the exception: renaming such an object fails when the file runs again, unless an existence
 * check guards it.
 */
export function checkBreakingChanges(file: CheckedFile): Detection[] {
  const detections: Detection[] = [];
  const created: QualifiedName[] = [];
  const isNew = (name: QualifiedName | undefined): boolean => name !== undefined && created.some((known) => isSameName(known, name));

  for (const statement of deployStatementsOf(file)) {
    const node = statement.node;

    switch (statement.type) {
      case 'IndexStmt': {
        const table = relationOf(node.relation);
        if (node.concurrent !== true && !isNew(table) && node.relation?.relpersistence !== 't') {
          const name = node.idxname === undefined ? 'INDEX' : `INDEX ${node.idxname}`;
          detections.push(detectAt('OV301', statement, `CREATE ${name} on existing table ${formatName(table!)} without CONCURRENTLY blocks writes to the table until the index is built`));
        }
        break;
      }
      case 'DropStmt':
        detections.push(...breakingDrops(statement, isNew));
        break;
      case 'RenameStmt': {
        const problem = renameProblem(statement, isNew(renamedObjectOf(node)));
        if (problem !== undefined) detections.push(detectAt('OV312', statement, `RENAME ${renameSubject(node)} ${problem}`));
        break;
      }
      case 'AlterTableStmt': {
        const table = relationOf(node.relation);
        if (!isNew(table)) detections.push(...alterTableBreaks(statement, table));
        break;
      }
      default:
        break;
    }

    for (const name of createdBy(statement)) created.push(name);
  }

  return detections;
}

/** OV302: CREATE INDEX CONCURRENTLY (and DROP INDEX CONCURRENTLY) cannot run inside a transaction block. */
export function checkConcurrentIndexes(file: CheckedFile): Detection[] {
  const detections: Detection[] = [];
  let inTransaction = false;

  for (const statement of statementsOf(file)) {
    if (statement.context.scope === 'top' && statement.type === 'TransactionStmt') {
      const kind: string = statement.node.kind;
      if (kind === 'TRANS_STMT_BEGIN' || kind === 'TRANS_STMT_START') inTransaction = true;
      if (kind === 'TRANS_STMT_COMMIT' || kind === 'TRANS_STMT_ROLLBACK') inTransaction = statement.node.chain === true;
      continue;
    }

    const isConcurrent =
      (statement.type === 'IndexStmt' && statement.node.concurrent === true) ||
      (statement.type === 'DropStmt' && statement.node.concurrent === true);
    if (!isConcurrent) continue;

    const isTopLevel = statement.context.scope === 'top';
    if (isTopLevel && !inTransaction) continue;
    const where = isTopLevel ? 'after BEGIN' : 'inside a DO block or function';

    const verb = statement.type === 'IndexStmt' ? 'CREATE INDEX' : 'DROP INDEX';
    detections.push(detectAt('OV302', statement, `${verb} CONCURRENTLY ${where} fails with "cannot run inside a transaction block"`));
  }

  return detections;
}

function breakingDrops(statement: VisitedStatement, isNew: (name: QualifiedName | undefined) => boolean): Detection[] {
  const kind = BREAKING_DROPS.get(statement.node.removeType);
  if (kind === undefined) return [];

  const detections: Detection[] = [];
  for (const object of statement.node.objects ?? []) {
    const parts = nameParts(unwrap(object, 'List')?.items ?? unwrap(object, 'ObjectWithArgs')?.objname ?? unwrap(object, 'TypeName')?.names ?? [object]);
    if (parts.length === 0) continue;
    const name: QualifiedName = parts.length > 1 ? { schema: parts[parts.length - 2], name: parts[parts.length - 1] } : { name: parts[0] };
    if (isNew(name)) continue;
    detections.push(detectAt('OV311', statement, `DROP ${kind} ${formatName(name)} in a forward migration breaks code that still uses it`));
  }
  return detections;
}

function alterTableBreaks(statement: VisitedStatement, table: QualifiedName | undefined): Detection[] {
  const tableName = table === undefined ? 'the table' : formatName(table);
  const detections: Detection[] = [];

  for (const wrapped of statement.node.cmds ?? []) {
    const command = unwrap(wrapped, 'AlterTableCmd');
    if (command === undefined) continue;
    const column = `${tableName}.${command.name ?? unwrap(command.def, 'ColumnDef')?.colname ?? '?'}`;

    switch (command.subtype) {
      case 'AT_DropColumn':
        detections.push(detectAt('OV311', statement, `DROP COLUMN ${column} in a forward migration breaks code that still reads or writes it`));
        break;
      case 'AT_AlterColumnType':
        detections.push(detectAt('OV313', statement, `ALTER COLUMN ${column} TYPE rewrites the table under an exclusive lock and breaks code that expects the old type`));
        break;
      case 'AT_SetNotNull':
        detections.push(detectAt('OV314', statement, `SET NOT NULL on ${column} scans the table under an exclusive lock and makes inserts from older code fail`));
        break;
      case 'AT_AddColumn':
        if (isNotNullWithoutDefault(unwrap(command.def, 'ColumnDef'))) {
          detections.push(detectAt('OV315', statement, `ADD COLUMN ${column} NOT NULL without DEFAULT fails on a table with rows and breaks inserts from older code`));
        }
        break;
      default:
        break;
    }
  }

  return detections;
}

function isNotNullWithoutDefault(column: AstBody): boolean {
  if (column === undefined) return false;
  const types = (column.constraints ?? []).map((constraint: AstBody) => unwrap(constraint, 'Constraint')?.contype);
  const isRequired = types.includes('CONSTR_NOTNULL') || types.includes('CONSTR_PRIMARY');
  const hasValue = types.includes('CONSTR_DEFAULT') || types.includes('CONSTR_IDENTITY') || types.includes('CONSTR_GENERATED');
  return isRequired && !hasValue && column.raw_default === undefined;
}

/**
 * Returns why a RENAME is a problem, or undefined. Renaming an object that existed before the file
 * breaks the code that uses the old name, guarded or not. Renaming an object the file created
 * fails on a second run (the column or table already has the new name, or CREATE ... IF NOT
 * EXISTS made a fresh one under the old name), unless an enclosing IF checks for the object.
 */
function renameProblem(statement: VisitedStatement, isNewObject: boolean): string | undefined {
  if (!isNewObject) return 'breaks every query and function that uses the old name';
  if (isGuardedByExistenceCheck(statement.context)) return undefined;
  return 'fails when the file runs again, because the first run already renamed it: put it in a DO block under IF EXISTS (or to_regclass(...)) for the old name';
}

/** Returns the table, schema or other object whose name or part a RENAME changes. */
function renamedObjectOf(node: AstBody): QualifiedName | undefined {
  const relation = relationOf(node.relation);
  if (relation !== undefined) return relation;
  if (node.renameType === 'OBJECT_SCHEMA' && typeof node.subname === 'string') return { name: node.subname };

  const object = node.object;
  const parts = nameParts(unwrap(object, 'List')?.items ?? unwrap(object, 'ObjectWithArgs')?.objname ?? unwrap(object, 'TypeName')?.names ?? []);
  if (parts.length === 0) return undefined;
  return parts.length > 1 ? { schema: parts[parts.length - 2], name: parts[parts.length - 1] } : { name: parts[0] };
}

function renameSubject(node: AstBody): string {
  const kind = String(node.renameType ?? '').replace(/^OBJECT_/, '').replace(/_/g, ' ');
  const relation = relationOf(node.relation);
  const target = relation === undefined ? '' : ` ${formatName(relation)}`;
  const column = node.subname === undefined ? '' : `.${node.subname}`;
  return `${kind}${target}${column} to ${node.newname}`;
}

/** Returns the relations, functions and types a statement creates, for the same-file exemption. */
function createdBy(statement: VisitedStatement): QualifiedName[] {
  const node = statement.node;
  switch (statement.type) {
    case 'CreateStmt':
      return optional(relationOf(node.relation));
    case 'CreateTableAsStmt':
      return optional(relationOf(node.into?.rel));
    case 'ViewStmt':
      return optional(relationOf(node.view));
    case 'CreateSeqStmt':
      return optional(relationOf(node.sequence));
    case 'CreateSchemaStmt':
      return node.schemaname === undefined ? [] : [{ name: node.schemaname }];
    case 'CreateFunctionStmt':
    case 'CreateEnumStmt':
    case 'CreateRangeStmt':
    case 'CreateDomainStmt':
    case 'DefineStmt': {
      const parts = nameParts(node.funcname ?? node.typeName ?? node.domainname ?? node.defnames);
      if (parts.length === 0) return [];
      return [parts.length > 1 ? { schema: parts[parts.length - 2], name: parts[parts.length - 1] } : { name: parts[0] }];
    }
    case 'CompositeTypeStmt':
      return optional(relationOf(node.typevar));
    default:
      return [];
  }
}

function optional<T>(value: T | undefined): T[] {
  return value === undefined ? [] : [value];
}
