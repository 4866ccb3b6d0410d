import { AstBody, QualifiedName, formatName, isSameName, nameParts, relationOf, unwrap } from './ast';
import { CheckedFile, Detection, detectAt, statementsOf } from './detection';
import { DYNAMIC_NAME, VisitedStatement } from './walk';

/** ALTER TABLE subcommands that turn row level security off for a table or for its owner. */
const RLS_WEAKENING_COMMANDS = new Map<string, string>([
  ['AT_DisableRowSecurity', 'DISABLE ROW LEVEL SECURITY'],
  ['AT_NoForceRowSecurity', 'NO FORCE ROW LEVEL SECURITY'],
]);

/** A policy as named in CREATE, ALTER or DROP POLICY: its name and its table. */
interface PolicyName {
  readonly name: string;
  readonly table: QualifiedName;
}

/**
 * OV404: ALTER TABLE ... DISABLE ROW LEVEL SECURITY or NO FORCE ROW LEVEL SECURITY. Tenant
 * isolation rests on the policies, and both commands let rows of every tenant through.
 */
export function checkRowSecurityDisabled(file: CheckedFile): Detection[] {
  const detections: Detection[] = [];

  for (const statement of statementsOf(file)) {
    if (statement.type !== 'AlterTableStmt') continue;
    const table = formatName(relationOf(statement.node.relation) ?? { name: '?' });

    for (const command of statement.node.cmds ?? []) {
      const clause = RLS_WEAKENING_COMMANDS.get(unwrap(command, 'AlterTableCmd')?.subtype);
      if (clause === undefined) continue;
      detections.push(detectAt('OV404', statement, `ALTER TABLE ${table} ${clause} lets rows of every tenant through the tenant isolation policies of ${table}`));
    }
  }

  return detections;
}

/**
 * OV405: DROP POLICY of a policy that the file neither created before nor creates again after the
 * drop. Also a permissive CREATE or ALTER POLICY whose USING or WITH CHECK is the constant true,
 * for PUBLIC or for a role named in the SQL. Policy and role names known only at run time are skipped.
 */
export function checkPolicyWeakened(file: CheckedFile): Detection[] {
  const detections: Detection[] = [];
  const statements = statementsOf(file);

  statements.forEach((statement, position) => {
    if (statement.type !== 'DropStmt' || statement.node.removeType !== 'OBJECT_POLICY') return;

    for (const object of statement.node.objects ?? []) {
      const dropped = droppedPolicyOf(object);
      // A policy named by a format() argument is known only at run time, so the linter cannot tell which one it is.
      if (dropped === undefined || dropped.name === DYNAMIC_NAME) continue;
      const createdBefore = statements.slice(0, position).some((other) => createsPolicy(other, dropped));
      const createdAfter = statements.slice(position + 1).some((other) => createsPolicy(other, dropped));
      if (createdBefore || createdAfter) continue;

      const table = formatName(dropped.table);
      detections.push(detectAt('OV405', statement, `DROP POLICY ${dropped.name} ON ${table} removes a row level security policy of ${table} and the file does not create it again`));
    }
  });

  for (const statement of statements) {
    if (statement.type !== 'CreatePolicyStmt' && statement.type !== 'AlterPolicyStmt') continue;
    // The parser leaves `permissive` out for AS RESTRICTIVE. A restrictive policy can only narrow what others allow.
    if (statement.type === 'CreatePolicyStmt' && statement.node.permissive !== true) continue;
    if (appliesOnlyToRunTimeRoles(statement.node.roles)) continue;

    const clauses = [
      isConstantTrue(statement.node.qual) ? 'USING (true)' : undefined,
      isConstantTrue(statement.node.with_check) ? 'WITH CHECK (true)' : undefined,
    ].filter((clause): clause is string => clause !== undefined);
    if (clauses.length === 0) continue;

    const verb = statement.type === 'CreatePolicyStmt' ? 'CREATE' : 'ALTER';
    const table = formatName(relationOf(statement.node.table) ?? { name: '?' });
    detections.push(detectAt('OV405', statement, `${verb} POLICY ${statement.node.policy_name} ON ${table} ${clauses.join(' ')} lets its roles read or write the rows of every tenant, since permissive policies are combined with OR`));
  }

  return detections;
}

/** Returns the policy of one DROP POLICY object, given as the list [schema, table, policy] or [table, policy]. */
function droppedPolicyOf(object: unknown): PolicyName | undefined {
  const parts = nameParts(unwrap(object, 'List')?.items);
  if (parts.length < 2) return undefined;

  const name = parts[parts.length - 1];
  const tableName = parts[parts.length - 2];
  const table = parts.length > 2 ? { schema: parts[parts.length - 3], name: tableName } : { name: tableName };
  return { name, table };
}

function createsPolicy(statement: VisitedStatement, policy: PolicyName): boolean {
  if (statement.type !== 'CreatePolicyStmt' || statement.node.policy_name !== policy.name) return false;
  const table = relationOf(statement.node.table);
  return table !== undefined && isSameName(table, policy.table);
}

/**
 * True when every role of the policy is a format() argument known only at run time. The linter
 * cannot tell which role that is, so it does not report it.
 */
function appliesOnlyToRunTimeRoles(roles: unknown): boolean {
  if (!Array.isArray(roles) || roles.length === 0) return false;
  return roles.every((role) => {
    const spec = unwrap(role, 'RoleSpec');
    return spec?.roletype === 'ROLESPEC_CSTRING' && spec.rolename === DYNAMIC_NAME;
  });
}

/** True for the constant true, also written as a cast (`'t'::boolean`, `true::bool`). */
function isConstantTrue(expression: AstBody): boolean {
  const cast = unwrap(expression, 'TypeCast');
  if (cast !== undefined) {
    const typeName = nameParts(cast.typeName?.names).pop();
    if (typeName !== 'bool' && typeName !== 'boolean') return false;
    return isConstantTrue(cast.arg) || isTrueText(unwrap(cast.arg, 'A_Const')?.sval?.sval);
  }

  const constant = unwrap(expression, 'A_Const');
  return constant?.boolval?.boolval === true;
}

/** True for the text forms PostgreSQL's boolean input accepts as true (boolin). */
function isTrueText(text: unknown): boolean {
  if (typeof text !== 'string') return false;
  return ['t', 'tr', 'tru', 'true', 'y', 'ye', 'yes', 'on', '1'].includes(text.trim().toLowerCase());
}
