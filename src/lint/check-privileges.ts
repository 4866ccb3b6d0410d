import { AstBody, formatName, nameParts, optionsOf, relationOf, unwrap } from './ast';
import { CheckedFile, Detection, detectAt, statementsOf } from './detection';
import { VisitedStatement } from './walk';

/**
 * Schemas whose tables only the platform's own functions may read and write. Applications reach
 * them through the SECURITY DEFINER functions of the api schema.
 */
const PLATFORM_SCHEMAS = new Set(['auth', 'raw', 'staging', 'audit', 'util']);

/** Role attributes that skip row level security: a superuser and a BYPASSRLS role see every row. */
const RLS_BYPASSING_ATTRIBUTES = new Map<string, string>([
  ['superuser', 'SUPERUSER'],
  ['bypassrls', 'BYPASSRLS'],
]);

/** Object kinds of `GRANT ... ON ALL <kind> IN SCHEMA` and `ALTER DEFAULT PRIVILEGES ... ON <kind>`, by parser object type. */
const OBJECT_KINDS = new Map<string, string>([
  ['OBJECT_TABLE', 'TABLES'],
  ['OBJECT_SEQUENCE', 'SEQUENCES'],
  ['OBJECT_FUNCTION', 'FUNCTIONS'],
  ['OBJECT_PROCEDURE', 'PROCEDURES'],
  ['OBJECT_ROUTINE', 'ROUTINES'],
  ['OBJECT_TYPE', 'TYPES'],
  ['OBJECT_SCHEMA', 'SCHEMAS'],
  ['OBJECT_LARGEOBJECT', 'LARGE OBJECTS'],
]);

/**
 * OV406: GRANT of any privilege on a table (or view) in a platform schema, GRANT ... ON ALL ... IN
 * SCHEMA, and ALTER DEFAULT PRIVILEGES ... GRANT. Grants to PUBLIC are reported by OV402 as well.
 */
export function checkBroadGrants(file: CheckedFile): Detection[] {
  const detections: Detection[] = [];

  for (const statement of statementsOf(file)) {
    const detection = broadGrantDetection(statement);
    if (detection !== undefined) detections.push(detection);
  }

  return detections;
}

/** OV407: CREATE ROLE or ALTER ROLE (also USER and GROUP) that gives a role SUPERUSER or BYPASSRLS. */
export function checkRlsBypassingRoles(file: CheckedFile): Detection[] {
  const detections: Detection[] = [];

  for (const statement of statementsOf(file)) {
    if (statement.type !== 'CreateRoleStmt' && statement.type !== 'AlterRoleStmt') continue;
    const options = optionsOf(statement.node.options);
    const granted = [...RLS_BYPASSING_ATTRIBUTES]
      .filter(([option]) => unwrap(options.get(option), 'Boolean')?.boolval === true)
      .map(([, attribute]) => attribute);
    if (granted.length === 0) continue;

    const verb = statement.type === 'CreateRoleStmt' ? 'CREATE' : 'ALTER';
    const role = statement.type === 'CreateRoleStmt' ? statement.node.role : roleNameOf(statement.node.role);
    detections.push(detectAt('OV407', statement, `${verb} ROLE ${role} ${granted.join(' ')} lets ${role} skip row level security and read and write the rows of every tenant`));
  }

  return detections;
}

function broadGrantDetection(statement: VisitedStatement): Detection | undefined {
  if (statement.type === 'AlterDefaultPrivilegesStmt') {
    const grant = unwrap(statement.node.action, 'GrantStmt') ?? statement.node.action;
    if (grant?.is_grant !== true) return undefined;

    const schemas = nameParts(unwrap(optionsOf(statement.node.options).get('schemas'), 'List')?.items);
    const where = schemas.length === 0 ? 'in every schema' : `in schema ${schemas.join(', ')}`;
    return detectAt('OV406', statement, `ALTER DEFAULT PRIVILEGES ... GRANT ${privilegesOf(grant)} ON ${kindOf(grant)} TO ${granteesOf(grant)} gives that privilege on every object created later ${where}`);
  }

  if (statement.type !== 'GrantStmt') return undefined;
  const grant = statement.node;
  if (grant.is_grant !== true) return undefined;

  if (grant.targtype === 'ACL_TARGET_ALL_IN_SCHEMA') {
    const schemas = nameParts(grant.objects).join(', ');
    return detectAt('OV406', statement, `GRANT ${privilegesOf(grant)} ON ALL ${kindOf(grant)} IN SCHEMA ${schemas} TO ${granteesOf(grant)} covers every object in the schema, internal ones included`);
  }

  if (grant.targtype !== 'ACL_TARGET_OBJECT' || grant.objtype !== 'OBJECT_TABLE') return undefined;
  const platformTables = (grant.objects ?? [])
    .map((object: AstBody) => relationOf(unwrap(object, 'RangeVar')))
    .filter((table: ReturnType<typeof relationOf>) => table?.schema !== undefined && PLATFORM_SCHEMAS.has(table.schema));
  if (platformTables.length === 0) return undefined;

  const tables = platformTables.map((table: NonNullable<ReturnType<typeof relationOf>>) => formatName(table)).join(', ');
  return detectAt('OV406', statement, `GRANT ${privilegesOf(grant)} ON ${tables} TO ${granteesOf(grant)} opens a platform table to direct queries, around the api functions`);
}

function privilegesOf(grant: AstBody): string {
  const names = (grant.privileges ?? []).map((privilege: AstBody) => String(unwrap(privilege, 'AccessPriv')?.priv_name ?? '').toUpperCase());
  return names.length === 0 ? 'ALL' : names.join(', ');
}

function kindOf(grant: AstBody): string {
  return OBJECT_KINDS.get(grant.objtype) ?? String(grant.objtype);
}

function granteesOf(grant: AstBody): string {
  const names = (grant.grantees ?? []).map((grantee: unknown) => roleNameOf(unwrap(grantee, 'RoleSpec')));
  return names.length === 0 ? '?' : names.join(', ');
}

/** Formats a RoleSpec for messages: its name, or PUBLIC, CURRENT_USER and the like. */
function roleNameOf(spec: AstBody): string {
  if (spec?.roletype === 'ROLESPEC_CSTRING') return String(spec.rolename);
  if (typeof spec?.roletype === 'string') return spec.roletype.replace(/^ROLESPEC_/, '');
  return '?';
}
