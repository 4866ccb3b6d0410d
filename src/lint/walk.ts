import { parseSync } from 'libpg-query';

import { AstBody, nodeTypeOf, optionsOf, stringOf, unwrap } from './ast';
import { PlStatement, PlpgsqlSyntaxError, Span, splitPlpgsql } from './plpgsql';
import { codePointOffsetToIndex, createByteOffsetConverter } from './source-text';
import { decodeStringToken, significantTokens, skipSpaceAndComments, Token, tokenize } from './tokens';

/** Kind of code a visited statement sits in. */
export type Scope = 'top' | 'do-block' | 'function-body' | 'execute';

/** A condition of an enclosing IF branch: the statement runs only when `condition` evaluates to `holds`. */
export interface Guard {
  readonly condition: AstBody;
  readonly holds: boolean;
}

/** Surroundings of a visited statement. */
export interface StatementContext {
  readonly scope: Scope;
  readonly guards: readonly Guard[];
  /** Conditions caught by the EXCEPTION sections of enclosing PL/pgSQL blocks, in lower case. */
  readonly handledConditions: readonly string[];
  /** File indexes of the enclosing statements, outermost first (DO block, CREATE FUNCTION, IF ...). */
  readonly enclosing: readonly number[];
  /** Source of SQL recovered from an EXECUTE: a constant string, or a format() template with placeholders. */
  readonly dynamic?: 'constant' | 'format';
  /** True for a PL/pgSQL expression (IF condition, assignment, RAISE argument) parsed as `SELECT expr`. */
  readonly isExpression: boolean;
  /** True inside a function body, at any depth: such statements run when the function is called, not when the file runs. */
  readonly inFunctionBody: boolean;
}

/** One statement found by the walker, in source order. */
export interface VisitedStatement {
  readonly type: string;
  readonly node: AstBody;
  /** UTF-16 index in the file of the statement's first token. */
  readonly index: number;
  readonly text: string;
  readonly context: StatementContext;
  /** Converts a parser `location` inside this statement to a file index. */
  readonly locate: (byteLocation: number) => number;
}

/** A statement or body the walker could not read. */
export interface WalkError {
  readonly index: number;
  readonly message: string;
}

/** Everything the walker found in one file. */
export interface WalkResult {
  readonly statements: readonly VisitedStatement[];
  readonly errors: readonly WalkError[];
  readonly metaCommands: readonly Token[];
  /** File indexes of EXECUTE statements whose SQL is built at run time and so cannot be checked. */
  readonly unresolvedExecutes: readonly number[];
  /** Comments of the file and of the DO and function bodies in it, never text inside other strings. */
  readonly comments: readonly FileComment[];
}

/** A comment found by the lexer: its text and the file index of its first character. */
export interface FileComment {
  readonly text: string;
  readonly index: number;
}

/** Text handed to the parser, and how its indexes map back to the file. */
interface Fragment {
  readonly text: string;
  readonly toFileIndex: (index: number) => number;
}

const byteConverters = new WeakMap<Fragment, (byteOffset: number) => number>();

/** Returns the UTF-16 index in `fragment.text` of a parser byte offset, building the fragment's table on first use. */
function indexOfByte(fragment: Fragment, byteOffset: number): number {
  let convert = byteConverters.get(fragment);
  if (convert === undefined) {
    convert = createByteOffsetConverter(fragment.text);
    byteConverters.set(fragment, convert);
  }
  return convert(byteOffset);
}

const TOP_CONTEXT: StatementContext = { scope: 'top', guards: [], handledConditions: [], enclosing: [], isExpression: false, inFunctionBody: false };
const SELECT_PREFIX = 'SELECT ';

/** Name put in place of a format() argument that is not a constant, so that the template parses. */
export const DYNAMIC_NAME = 'onevault_dynamic';

/**
 * Parses a migration file and visits every statement. That covers the top-level statements, those
 * of DO blocks and of SQL and PL/pgSQL function bodies, and the SQL of EXECUTE when it is a
 * constant string or a format() call with a constant template.
 *
 * Requires `loadModule()` of libpg-query to have finished. Never throws for bad SQL: parse errors
 * are returned in `errors`.
 */
export function walkFile(text: string): WalkResult {
  const walker = new Walker();
  const tokens = tokenize(text);
  const metaCommands = tokens.filter((token) => token.kind === 'meta-command');

  let parsedText = text;
  for (const command of metaCommands) {
    parsedText = parsedText.slice(0, command.start) + ' '.repeat(command.end - command.start) + parsedText.slice(command.end);
  }

  const comments: FileComment[] = tokens.filter((token) => token.kind === 'comment').map((token) => ({ text: token.text, index: token.start }));
  walker.comments.push(...comments);

  walker.walkTopLevel({ text: parsedText, toFileIndex: (index) => index });
  return {
    statements: walker.statements,
    errors: walker.errors,
    metaCommands,
    unresolvedExecutes: walker.unresolvedExecutes,
    comments: [...walker.comments].sort((left, right) => left.index - right.index),
  };
}

class Walker {
  readonly statements: VisitedStatement[] = [];
  readonly errors: WalkError[] = [];
  readonly unresolvedExecutes: number[] = [];
  readonly comments: FileComment[] = [];

  /** Records the comments of a DO or function body, which the file's lexer saw as one string. */
  private collectBodyComments(body: Fragment): void {
    for (const token of tokenize(body.text)) {
      if (token.kind === 'comment') this.comments.push({ text: token.text, index: body.toFileIndex(token.start) });
    }
  }

  /** Parses a whole file; after a syntax error, parses each `;`-separated part alone so one bad statement hides no others. */
  walkTopLevel(fragment: Fragment): void {
    if (significantTokens(tokenize(fragment.text)).length === 0) return;

    try {
      this.visitParsed(fragment, parseSync(fragment.text), TOP_CONTEXT);
      return;
    } catch (error) {
      if (!isParserError(error)) throw error;
    }

    for (const part of splitOnSemicolons(fragment.text)) {
      const partFragment: Fragment = { text: part.text, toFileIndex: (index) => fragment.toFileIndex(part.start + index) };
      this.walkSql(partFragment, TOP_CONTEXT, 'statement');
    }
  }

  /**
   * Parses SQL text and visits its statements. A parse error is recorded, unless `reportErrors`
   * is false; returns whether the text parsed.
   */
  private walkSql(fragment: Fragment, context: StatementContext, what: string, reportErrors = true): boolean {
    if (significantTokens(tokenize(fragment.text)).length === 0) return true;

    let parsed: AstBody;
    try {
      parsed = parseSync(fragment.text);
    } catch (error) {
      if (!isParserError(error)) throw error;
      if (!reportErrors) return false;
      const cursor = error.sqlDetails?.cursorPosition ?? 0;
      const index = fragment.toFileIndex(codePointOffsetToIndex(fragment.text, cursor));
      this.errors.push({ index, message: `${error.message} (in ${what})` });
      return false;
    }

    this.visitParsed(fragment, parsed, context);
    return true;
  }

  private visitParsed(fragment: Fragment, parsed: AstBody, context: StatementContext): void {
    const raw: readonly AstBody[] = parsed?.stmts ?? [];
    for (const entry of raw) {
      const startByte: number = entry.stmt_location ?? 0;
      // The parser's statement location includes the whitespace and comments before the first token.
      const start = skipSpaceAndComments(fragment.text, indexOfByte(fragment, startByte));
      const end = entry.stmt_len === undefined || entry.stmt_len === 0
        ? fragment.text.length
        : indexOfByte(fragment, startByte + entry.stmt_len);
      this.visitStatement(fragment, entry.stmt, start, end, context);
    }
  }

  private visitStatement(fragment: Fragment, statement: AstBody, start: number, end: number, context: StatementContext): void {
    const type = nodeTypeOf(statement);
    if (type === undefined) return;
    const node = unwrap(statement);
    const index = fragment.toFileIndex(start);

    this.statements.push({
      type,
      node,
      index,
      text: fragment.text.slice(start, end),
      context,
      locate: (byteLocation) => fragment.toFileIndex(indexOfByte(fragment, byteLocation)),
    });

    const inner: StatementContext = { ...context, enclosing: [...context.enclosing, index], isExpression: false };
    if (type === 'DoStmt') this.walkDoBlock(fragment, node, start, end, inner);
    if (type === 'CreateFunctionStmt') this.walkFunction(fragment, node, start, end, inner);
  }

  private walkDoBlock(fragment: Fragment, node: AstBody, start: number, end: number, context: StatementContext): void {
    const options = optionsOf(node.args);
    const language = stringOf(options.get('language')) ?? 'plpgsql';
    const body = stringOf(options.get('as'));
    if (body === undefined || language.toLowerCase() !== 'plpgsql') return;

    const bodyFragment = locateBody(fragment, start, end, body);
    if (context.dynamic === undefined) this.collectBodyComments(bodyFragment);
    this.walkPlpgsqlBody(bodyFragment, { ...context, scope: 'do-block' }, 'DO block');
  }

  private walkFunction(fragment: Fragment, node: AstBody, start: number, end: number, context: StatementContext): void {
    const options = optionsOf(node.options);
    const language = (stringOf(options.get('language')) ?? 'sql').toLowerCase();
    const functionContext: StatementContext = { ...context, scope: 'function-body', inFunctionBody: true };

    if (node.sql_body !== undefined) {
      this.visitAtomicBody(fragment, node.sql_body, functionContext);
      return;
    }

    const bodyList = unwrap(options.get('as'), 'List')?.items;
    const body = Array.isArray(bodyList) && bodyList.length === 1 ? stringOf(bodyList[0]) : undefined;
    if (body === undefined) return;

    const bodyFragment = locateBody(fragment, start, end, body);
    if (context.dynamic === undefined) this.collectBodyComments(bodyFragment);
    if (language === 'plpgsql') this.walkPlpgsqlBody(bodyFragment, functionContext, 'PL/pgSQL function body');
    else if (language === 'sql') this.walkSql(bodyFragment, functionContext, 'SQL function body');
  }

  /** Visits the statements of a `BEGIN ATOMIC ... END` body, whose nodes carry locations in the enclosing text. */
  private visitAtomicBody(fragment: Fragment, sqlBody: AstBody, context: StatementContext): void {
    const statements: AstBody[] = [];
    const collect = (value: AstBody): void => {
      const list = unwrap(value, 'List')?.items;
      if (Array.isArray(list)) list.forEach(collect);
      else if (nodeTypeOf(value) !== undefined) statements.push(value);
    };
    collect(sqlBody);

    for (const statement of statements) {
      const location = firstLocation(statement);
      const start = location === undefined ? 0 : indexOfByte(fragment, location);
      this.visitStatement(fragment, statement, start, start, context);
    }
  }

  private walkPlpgsqlBody(fragment: Fragment, context: StatementContext, what: string): void {
    let statements: PlStatement[];
    try {
      statements = splitPlpgsql(fragment.text);
    } catch (error) {
      if (!(error instanceof PlpgsqlSyntaxError)) throw error;
      this.errors.push({ index: fragment.toFileIndex(error.index), message: `${error.message} (in ${what})` });
      return;
    }

    for (const statement of statements) this.visitPlStatement(fragment, statement, context);
  }

  private visitPlStatement(fragment: Fragment, statement: PlStatement, context: StatementContext): void {
    const inner: StatementContext = { ...context, enclosing: [...context.enclosing, fragment.toFileIndex(statement.start)] };

    switch (statement.kind) {
      case 'block': {
        for (const declaration of statement.declarations) this.visitDeclaration(fragment, declaration, context);
        const caught = statement.handlers.flatMap((handler) => handler.conditions);
        const protectedContext = { ...context, handledConditions: [...context.handledConditions, ...caught] };
        for (const child of statement.body) this.visitPlStatement(fragment, child, protectedContext);
        for (const handler of statement.handlers) {
          for (const child of handler.body) this.visitPlStatement(fragment, child, context);
        }
        return;
      }
      case 'if':
      case 'case':
        this.visitBranches(fragment, statement.kind === 'if' || statement.subject === undefined, statement.branches, inner);
        if (statement.kind === 'case' && statement.subject !== undefined) this.walkExpression(fragment, statement.subject, context);
        return;
      case 'loop':
        if (statement.header?.kind === 'query') this.walkSql(subFragment(fragment, statement.header.query), context, 'FOR loop query');
        else if (statement.header?.kind === 'execute') this.walkExecute(fragment, statement.header.expression, context);
        else if (statement.header !== undefined) this.walkExpression(fragment, statement.header.expression, context);
        for (const child of statement.body) this.visitPlStatement(fragment, child, inner);
        return;
      case 'sql': {
        const blanks = statement.into === undefined ? [] : [statement.into];
        this.walkSql(subFragment(fragment, statement, '', blanks), context, 'PL/pgSQL statement');
        return;
      }
      case 'perform':
        this.walkExpression(fragment, statement.expression, context);
        return;
      case 'execute':
        this.walkExecute(fragment, statement.expression, context);
        return;
      case 'expressions':
        for (const expression of statement.expressions) this.walkExpression(fragment, expression, context);
        return;
      case 'other':
        return;
    }
  }

  private visitBranches(
    fragment: Fragment,
    areConditions: boolean,
    branches: readonly { readonly condition?: Span; readonly body: readonly PlStatement[] }[],
    context: StatementContext,
  ): void {
    const earlier: AstBody[] = [];
    for (const branch of branches) {
      const condition = branch.condition === undefined ? undefined : this.parseCondition(fragment, branch.condition, context);
      const guards: Guard[] = areConditions ? earlier.map((previous) => ({ condition: previous, holds: false })) : [];
      if (areConditions && condition !== undefined) guards.push({ condition, holds: true });

      const branchContext = { ...context, guards: [...context.guards, ...guards] };
      for (const child of branch.body) this.visitPlStatement(fragment, child, branchContext);
      if (condition !== undefined) earlier.push(condition);
    }
  }

  /** Parses an IF or WHEN condition, visits it as an expression, and returns its parse tree. */
  private parseCondition(fragment: Fragment, span: Span, context: StatementContext): AstBody | undefined {
    const conditionFragment = subFragment(fragment, span, SELECT_PREFIX);
    const before = this.statements.length;
    this.walkSql(conditionFragment, { ...context, isExpression: true }, 'PL/pgSQL condition');
    const visited = this.statements[before];
    return visited?.node?.targetList?.[0]?.ResTarget?.val;
  }

  private walkExpression(fragment: Fragment, span: Span, context: StatementContext): void {
    if (span.end <= span.start) return;
    this.walkSql(subFragment(fragment, span, SELECT_PREFIX), { ...context, isExpression: true }, 'PL/pgSQL expression');
  }

  /** Visits a PL/pgSQL declaration's default value or cursor query. */
  private visitDeclaration(fragment: Fragment, span: Span, context: StatementContext): void {
    const tokens = significantTokens(tokenize(fragment.text.slice(span.start, span.end)));
    const cursorQuery = tokens.findIndex((token, position) => (token.upper === 'FOR' || token.upper === 'IS') && tokens.slice(0, position).some((t) => t.upper === 'CURSOR'));
    if (cursorQuery !== -1) {
      const query = { start: span.start + tokens[cursorQuery].end, end: span.end };
      this.walkSql(subFragment(fragment, query), context, 'cursor declaration');
      return;
    }

    const assignment = tokens.findIndex((token) => token.text === ':=' || token.text === '=' || token.upper === 'DEFAULT');
    if (assignment === -1) return;
    this.walkExpression(fragment, { start: span.start + tokens[assignment].end, end: span.end }, context);
  }

  /** Visits the SQL of an EXECUTE when it can be known without running it. */
  private walkExecute(fragment: Fragment, span: Span, context: StatementContext): void {
    const expressionFragment = subFragment(fragment, span, SELECT_PREFIX);
    const before = this.statements.length;
    this.walkSql(expressionFragment, { ...context, isExpression: true }, 'EXECUTE expression');
    const expression = this.statements[before]?.node?.targetList?.[0]?.ResTarget?.val;
    if (expression === undefined) return;

    const at = fragment.toFileIndex(span.start);
    const constantText = constantStringOf(expression);
    if (constantText !== undefined) {
      this.walkSql({ text: constantText, toFileIndex: () => at }, { ...context, scope: 'execute', dynamic: 'constant' }, 'EXECUTE string');
      return;
    }

    // A template whose placeholders stand for keywords (DROP %s ...) need not parse: that is no error in the file.
    const template = formatTemplateOf(expression);
    const templateContext: StatementContext = { ...context, scope: 'execute', dynamic: 'format' };
    if (template !== undefined && this.walkSql({ text: template, toFileIndex: () => at }, templateContext, 'EXECUTE format() template', false)) {
      return;
    }

    this.unresolvedExecutes.push(at);
  }
}

/** Returns the text of a string constant or of a `||` chain of string constants. */
function constantStringOf(expression: AstBody): string | undefined {
  const constant = unwrap(expression, 'A_Const');
  if (constant !== undefined) {
    // The JSON leaves out an empty string's value, so `sval: {}` is ''.
    if (constant.sval === undefined) return undefined;
    return typeof constant.sval.sval === 'string' ? constant.sval.sval : '';
  }

  const operation = unwrap(expression, 'A_Expr');
  if (operation === undefined || stringOf(operation.name?.[0]) !== '||') return undefined;
  const left = constantStringOf(operation.lexpr);
  const right = constantStringOf(operation.rexpr);
  return left === undefined || right === undefined ? undefined : left + right;
}

/**
 * Expands `format('template', args...)` with the arguments that are string constants; other
 * arguments become DYNAMIC_NAME (quoted as a literal for `%L`) so that the template still parses.
 */
function formatTemplateOf(expression: AstBody): string | undefined {
  const call = unwrap(expression, 'FuncCall');
  const name = Array.isArray(call?.funcname) ? stringOf(call.funcname[call.funcname.length - 1]) : undefined;
  if (name?.toLowerCase() !== 'format' || !Array.isArray(call.args) || call.args.length === 0) return undefined;

  const template = constantStringOf(call.args[0]);
  if (template === undefined) return undefined;

  const values = call.args.slice(1).map((argument: AstBody) => constantStringOf(argument));
  let nextArgument = 0;
  return template.replace(/%(?:(\d+)\$)?-?\d*([sIL%])/g, (_match, position: string | undefined, conversion: string) => {
    if (conversion === '%') return '%';
    const argumentIndex = position === undefined ? nextArgument : Number(position) - 1;
    nextArgument = argumentIndex + 1;
    const value: string | undefined = values[argumentIndex];

    if (conversion === 'I') return value === undefined ? DYNAMIC_NAME : quoteIdentifier(value);
    if (conversion === 'L') return value === undefined ? `'${DYNAMIC_NAME}'` : `'${value.replace(/'/g, "''")}'`;
    return value ?? DYNAMIC_NAME;
  });
}

function quoteIdentifier(value: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(value) ? value : `"${value.replace(/"/g, '""')}"`;
}

/** Finds the string token of a DO or function body inside a statement and maps the body back to the file. */
function locateBody(fragment: Fragment, start: number, end: number, body: string): Fragment {
  const statementText = fragment.text.slice(start, end);
  for (const token of tokenize(statementText)) {
    if (token.kind !== 'string' && token.kind !== 'dollar-string') continue;
    const decoded = decodeStringToken(token);
    if (decoded.value !== body) continue;

    const tokenStart = start + token.start;
    return {
      text: body,
      toFileIndex: (index) => {
        const source = decoded.sourceIndexes[Math.min(index, decoded.sourceIndexes.length - 1)] ?? 0;
        return fragment.toFileIndex(tokenStart + source + (index >= decoded.sourceIndexes.length ? 1 : 0));
      },
    };
  }

  // NOTE: a body the lexer cannot find is still checked, but every position in it points at the statement.
  return { text: body, toFileIndex: () => fragment.toFileIndex(start) };
}

/** Returns a fragment for `span` of `parent`, optionally with a prefix and with ranges blanked out. */
function subFragment(parent: Fragment, span: Span, prefix = '', blanks: readonly Span[] = []): Fragment {
  let text = parent.text.slice(span.start, span.end);
  for (const blank of blanks) {
    const from = blank.start - span.start;
    const to = blank.end - span.start;
    text = text.slice(0, from) + ' '.repeat(to - from) + text.slice(to);
  }

  return {
    text: prefix + text,
    toFileIndex: (index) => parent.toFileIndex(span.start + Math.max(0, index - prefix.length)),
  };
}

/** Splits text on `;` outside quotes and comments, keeping each part's start index. */
function splitOnSemicolons(text: string): { text: string; start: number }[] {
  const parts: { text: string; start: number }[] = [];
  let start = 0;
  for (const token of tokenize(text)) {
    if (token.text !== ';') continue;
    parts.push({ text: text.slice(start, token.end), start });
    start = token.end;
  }
  if (start < text.length) parts.push({ text: text.slice(start), start });
  return parts;
}

function firstLocation(statement: AstBody): number | undefined {
  let found: number | undefined;
  const search = (value: unknown): void => {
    if (found !== undefined || typeof value !== 'object' || value === null) return;
    for (const [key, child] of Object.entries(value)) {
      if (key === 'location' && typeof child === 'number' && child >= 0) {
        found = child;
        return;
      }
      search(child);
    }
  };
  search(statement);
  return found;
}

function isParserError(error: unknown): error is Error & { sqlDetails?: { cursorPosition: number } } {
  return error instanceof Error && (error.name === 'SqlError' || 'sqlDetails' in error);
}
