import { AstBody, nodeTypeOf, someNode, stringOf, unwrap } from './ast';
import { StatementContext } from './walk';

/** Exception conditions whose handler turns "already exists" into a no-op. */
const DUPLICATE_CONDITIONS = new Set([
  'duplicate_object',
  'duplicate_table',
  'duplicate_schema',
  'duplicate_function',
  'duplicate_column',
  'duplicate_database',
  'unique_violation',
  'sqlstate 42710',
  'sqlstate 42p07',
  'sqlstate 42p06',
  'sqlstate 42723',
  'sqlstate 42701',
  'sqlstate 23505',
]);

/**
 * Returns true when a statement runs only if something is absent. That is an enclosing IF branch
 * whose condition tests for absence (NOT EXISTS, NOT FOUND, to_regclass(...) IS NULL, a count equal
 * to 0, NOT some_flag), or an enclosing block that catches duplicate_object or a similar condition.
 */
export function isGuardedByAbsence(context: StatementContext): boolean {
  if (context.handledConditions.some((condition) => DUPLICATE_CONDITIONS.has(condition.toLowerCase()))) return true;
  return context.guards.some((guard) => isAbsenceTest(guard.condition, !guard.holds));
}

/**
 * Returns true when `expression`, negated if `negated`, is true only when something is absent.
 * Deliberately generous: a branch under `NOT v_exists` counts, because the variable is usually
 * set by an existence query just before.
 */
export function isAbsenceTest(expression: AstBody, negated: boolean): boolean {
  const type = nodeTypeOf(expression);
  const body = unwrap(expression);
  if (type === undefined || body === undefined) return false;

  switch (type) {
    case 'BoolExpr': {
      const args: AstBody[] = Array.isArray(body.args) ? body.args : [];
      if (body.boolop === 'NOT_EXPR') return args.length === 1 && isAbsenceTest(args[0], !negated);
      return args.some((argument) => isAbsenceTest(argument, negated));
    }
    case 'SubLink':
      return body.subLinkType === 'EXISTS_SUBLINK' && negated;
    case 'ColumnRef': {
      const fields: AstBody[] = Array.isArray(body.fields) ? body.fields : [];
      const name = stringOf(fields[fields.length - 1])?.toLowerCase() ?? '';
      if (name === 'found') return negated;
      if (/(missing|absent|not_exist)/.test(name)) return !negated;
      return negated;
    }
    case 'NullTest':
      return (body.nulltesttype === 'IS_NULL') !== negated;
    case 'A_Expr':
      return isCountComparison(body, negated);
    default:
      return false;
  }
}

/** Recognises `(SELECT count(*) ...) = 0` and `... < 1`, and their negations `> 0` and `<> 0`. */
function isCountComparison(body: AstBody, negated: boolean): boolean {
  if (body.kind !== 'AEXPR_OP') return false;
  const operator = stringOf(body.name?.[0]);
  const zero = isZero(body.rexpr) || isZero(body.lexpr);
  const one = isOne(body.rexpr);

  const meansNone = (operator === '=' && zero) || (operator === '<' && one);
  const meansSome = ((operator === '>' || operator === '<>' || operator === '!=') && zero) || (operator === '>=' && one);
  return negated ? meansSome : meansNone;
}

function isZero(expression: AstBody): boolean {
  const constant = unwrap(expression, 'A_Const');
  return constant !== undefined && constant.ival !== undefined && (constant.ival.ival ?? 0) === 0;
}

function isOne(expression: AstBody): boolean {
  const constant = unwrap(expression, 'A_Const');
  return constant?.ival?.ival === 1;
}

/** Catalog lookups that return NULL for a missing object, such as pg_catalog.to_regclass(). */
const LOOKUP_FUNCTION = /^to_reg(class|type|proc|procedure|oper|operator|namespace|role|collation|typemod)$/;

/**
 * Returns true when a statement runs under an enclosing IF branch whose condition checks whether
 * an object exists, in either direction: a subquery (`EXISTS (SELECT ...)`, `(SELECT count(*)
 * ...) > 0`), a to_reg*() lookup, or FOUND after a query. Flags set earlier are not recognised,
 * because the linter cannot tell what set them.
 */
export function isGuardedByExistenceCheck(context: StatementContext): boolean {
  return context.guards.some((guard) => isExistenceCheck(guard.condition));
}

function isExistenceCheck(condition: AstBody): boolean {
  return someNode(condition, (type, body) => {
    if (type === 'SubLink') return true;
    if (type === 'FuncCall') {
      const parts: AstBody[] = Array.isArray(body.funcname) ? body.funcname : [];
      return LOOKUP_FUNCTION.test(stringOf(parts[parts.length - 1])?.toLowerCase() ?? '');
    }
    if (type === 'ColumnRef') {
      const fields: AstBody[] = Array.isArray(body.fields) ? body.fields : [];
      return fields.length === 1 && stringOf(fields[0])?.toLowerCase() === 'found';
    }
    return false;
  });
}
