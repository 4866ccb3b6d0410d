import { AstBody, QualifiedName, forEachNode, formatName, isSameName, nameParts, optionsOf, qualifiedNameOf, stringOf, unwrap } from './ast';
import { CheckedFile, Detection, detectAt, statementsOf } from './detection';
import { VisitedStatement } from './walk';

/** Functions of the pgcrypto extension (PostgreSQL 17 contrib), by name. */
const PGCRYPTO_FUNCTIONS = new Set([
  'armor',
  'crypt',
  'dearmor',
  'decrypt',
  'decrypt_iv',
  'digest',
  'encrypt',
  'encrypt_iv',
  'gen_random_bytes',
  'gen_salt',
  'hmac',
]);

/** Schema whose functions applications call; each must be closed to PUBLIC. */
const API_SCHEMA = 'api';

/** OV401: a SECURITY DEFINER function must pin search_path so callers cannot shadow the objects it uses. */
export function checkSecurityDefinerSearchPath(file: CheckedFile): Detection[] {
  const detections: Detection[] = [];
  const statements = statementsOf(file);
  const pinnedLater = statements
    .filter((statement) => statement.type === 'AlterFunctionStmt' && setsSearchPath(statement.node.actions))
    .map((statement) => qualifiedNameOf(alteredFunctionOf(statement.node)?.objname))
    .filter((name): name is QualifiedName => name !== undefined);

  for (const statement of statements) {
    if (statement.type === 'CreateFunctionStmt') {
      const options = optionsOf(statement.node.options);
      if (!isSecurityDefiner(options.get('security')) || setsSearchPath(statement.node.options)) continue;
      const created = qualifiedNameOf(statement.node.funcname) ?? { name: '?' };
      if (pinnedLater.some((pinned) => isSameName(pinned, created))) continue;
      const name = formatName(created);
      detections.push(detectAt('OV401', statement, `SECURITY DEFINER function ${name} has no SET search_path, so a caller's search_path decides which objects it uses`));
    }

    if (statement.type === 'AlterFunctionStmt') {
      const options = optionsOf(statement.node.actions);
      if (!isSecurityDefiner(options.get('security')) || setsSearchPath(statement.node.actions)) continue;
      const name = formatName(qualifiedNameOf(alteredFunctionOf(statement.node)?.objname) ?? { name: '?' });
      detections.push(detectAt('OV401', statement, `ALTER FUNCTION ${name} SECURITY DEFINER without SET search_path in the same statement`));
    }
  }

  return detections;
}

/**
 * OV402: GRANT ... TO PUBLIC, and functions in the api schema or declared SECURITY DEFINER that the
 * file never revokes from PUBLIC (PostgreSQL grants EXECUTE on every new function to PUBLIC).
 */
export function checkPublicPrivileges(file: CheckedFile): Detection[] {
  const statements = statementsOf(file);
  const detections: Detection[] = [];

  for (const statement of statements) {
    const grant = grantOf(statement);
    if (grant === undefined || grant.is_grant !== true || !namesPublic(grant.grantees)) continue;
    const prefix = statement.type === 'AlterDefaultPrivilegesStmt' ? 'ALTER DEFAULT PRIVILEGES ... ' : '';
    detections.push(detectAt('OV402', statement, `${prefix}GRANT ${privilegesOf(grant)} ... TO PUBLIC gives every role, including application roles of other tenants, this privilege`));
  }

  const revokes = statements.filter((statement) => isExecuteRevokeFromPublic(statement));
  for (const statement of statements) {
    if (statement.type !== 'CreateFunctionStmt') continue;
    const name = qualifiedNameOf(statement.node.funcname);
    if (name === undefined) continue;

    const isApi = name.schema === API_SCHEMA;
    const isDefiner = isSecurityDefiner(optionsOf(statement.node.options).get('security'));
    if (!isApi && !isDefiner) continue;
    if (revokes.some((revoke) => revokeCovers(revoke, name))) continue;

    const why = isApi ? 'api function' : 'SECURITY DEFINER function';
    detections.push(detectAt('OV402', statement, `${why} ${formatName(name)} stays executable by PUBLIC: the file has no REVOKE EXECUTE ON FUNCTION ${formatName(name)} FROM PUBLIC`));
  }

  return detections;
}

/** OV403: pgcrypto calls must name their schema, because pinned search_paths do not include it. */
export function checkPgcryptoCalls(file: CheckedFile): Detection[] {
  const detections: Detection[] = [];

  for (const statement of file.walk.statements) {
    forEachNode(statement.node, (type, body) => {
      if (type !== 'FuncCall' || !Array.isArray(body.funcname) || body.funcname.length !== 1) return;
      const name = stringOf(body.funcname[0])?.toLowerCase();
      if (name === undefined || !(PGCRYPTO_FUNCTIONS.has(name) || name.startsWith('pgp_'))) return;

      const index = typeof body.location === 'number' ? statement.locate(body.location) : statement.index;
      detections.push(detectAt('OV403', statement, `pgcrypto function ${name}() is called without its schema: it fails under a pinned search_path and can be shadowed under an open one`, index));
    });
  }

  return detections;
}

/** Returns the ObjectWithArgs of an ALTER FUNCTION, which the JSON gives wrapped or bare. */
function alteredFunctionOf(node: AstBody): AstBody | undefined {
  return unwrap(node.func, 'ObjectWithArgs') ?? node.func;
}

function isSecurityDefiner(value: unknown): boolean {
  return unwrap(value, 'Boolean')?.boolval === true;
}

function setsSearchPath(options: unknown): boolean {
  if (!Array.isArray(options)) return false;
  return options.some((option) => {
    const element = unwrap(option, 'DefElem');
    const setting = unwrap(element?.arg, 'VariableSetStmt');
    return element?.defname === 'set' && setting?.name?.toLowerCase() === 'search_path' && setting.kind !== 'VAR_RESET';
  });
}

function namesPublic(grantees: unknown): boolean {
  return Array.isArray(grantees) && grantees.some((grantee) => unwrap(grantee, 'RoleSpec')?.roletype === 'ROLESPEC_PUBLIC');
}

function privilegesOf(grant: AstBody): string {
  const names = (grant.privileges ?? []).map((privilege: AstBody) => String(unwrap(privilege, 'AccessPriv')?.priv_name ?? '').toUpperCase());
  return names.length === 0 ? 'ALL' : names.join(', ');
}

/** Returns the GrantStmt of a GRANT, REVOKE or ALTER DEFAULT PRIVILEGES statement. */
function grantOf(statement: VisitedStatement): AstBody | undefined {
  if (statement.type === 'GrantStmt') return statement.node;
  if (statement.type === 'AlterDefaultPrivilegesStmt') return unwrap(statement.node.action, 'GrantStmt') ?? statement.node.action;
  return undefined;
}

function isExecuteRevokeFromPublic(statement: VisitedStatement): boolean {
  const grant = grantOf(statement);
  if (grant === undefined || grant.is_grant === true || !namesPublic(grant.grantees)) return false;
  if (!['OBJECT_FUNCTION', 'OBJECT_PROCEDURE', 'OBJECT_ROUTINE'].includes(grant.objtype)) return false;

  const privileges: AstBody[] = grant.privileges ?? [];
  return privileges.length === 0 || privileges.some((privilege) => unwrap(privilege, 'AccessPriv')?.priv_name === 'execute');
}

/** Matches a revoke to a function by name, since the argument types rarely differ within one migration. */
function revokeCovers(revoke: VisitedStatement, name: QualifiedName): boolean {
  if (revoke.type === 'AlterDefaultPrivilegesStmt') {
    const schemas = optionsOf(revoke.node.options).get('schemas');
    if (schemas === undefined) return true;
    return nameParts(unwrap(schemas, 'List')?.items ?? schemas).some((schema) => schema === name.schema);
  }

  const grant = revoke.node;
  if (grant.targtype === 'ACL_TARGET_ALL_IN_SCHEMA') {
    return nameParts(grant.objects).some((schema) => schema === name.schema);
  }

  return (grant.objects ?? []).some((object: AstBody) => {
    const revoked = qualifiedNameOf(unwrap(object, 'ObjectWithArgs')?.objname);
    if (revoked === undefined || revoked.name !== name.name) return false;
    return revoked.schema === undefined || name.schema === undefined || revoked.schema === name.schema;
  });
}
