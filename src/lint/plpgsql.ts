import { Token, significantTokens, tokenize } from './tokens';

/** A range of the PL/pgSQL body text: UTF-16 indexes, `end` exclusive. */
export interface Span {
  readonly start: number;
  readonly end: number;
}

/** One `IF`, `ELSIF`, `ELSE` or `WHEN` branch; `condition` is absent for `ELSE`. */
export interface Branch {
  readonly condition?: Span;
  readonly body: readonly PlStatement[];
}

/** One `WHEN ... THEN` handler of a block's `EXCEPTION` section. */
export interface Handler {
  /** Condition names in lower case, and `sqlstate xxxxx` for SQLSTATE conditions. */
  readonly conditions: readonly string[];
  readonly body: readonly PlStatement[];
}

/** Header of a loop: what the loop runs over. */
export type LoopHeader =
  | { readonly kind: 'query'; readonly query: Span }
  | { readonly kind: 'execute'; readonly expression: Span }
  | { readonly kind: 'expression'; readonly expression: Span };

/** A PL/pgSQL statement, with the parts the linter parses again as SQL. */
export type PlStatement =
  | (Span & { readonly kind: 'block'; readonly declarations: readonly Span[]; readonly body: readonly PlStatement[]; readonly handlers: readonly Handler[] })
  | (Span & { readonly kind: 'if'; readonly branches: readonly Branch[] })
  | (Span & { readonly kind: 'case'; readonly subject?: Span; readonly branches: readonly Branch[] })
  | (Span & { readonly kind: 'loop'; readonly header?: LoopHeader; readonly body: readonly PlStatement[] })
  | (Span & { readonly kind: 'sql'; readonly into?: Span })
  | (Span & { readonly kind: 'perform'; readonly expression: Span })
  | (Span & { readonly kind: 'execute'; readonly expression: Span })
  | (Span & { readonly kind: 'expressions'; readonly expressions: readonly Span[] })
  | (Span & { readonly kind: 'other' });

/** A PL/pgSQL body that could not be split into statements, with the index where it went wrong. */
export class PlpgsqlSyntaxError extends Error {
  readonly index: number;

  constructor(message: string, index: number) {
    super(message);
    this.name = 'PlpgsqlSyntaxError';
    this.index = index;
  }
}

/**
 * Splits a PL/pgSQL function or DO body into its statements, following the block structure
 * (DECLARE, BEGIN, EXCEPTION, END, IF, CASE, the loops). It reads structure only: expressions and
 * SQL statements are returned as spans for the SQL parser.
 *
 * Throws PlpgsqlSyntaxError when the block structure is broken.
 */
export function splitPlpgsql(body: string): PlStatement[] {
  // Compiler options such as `#variable_conflict use_column` stand on lines of their own before the block.
  const withoutOptions = body.replace(/^[ \t]*#[^\n]*/gm, (line) => ' '.repeat(line.length));
  const reader = new PlpgsqlReader(withoutOptions, significantTokens(tokenize(withoutOptions)));
  return reader.readBody();
}

const SQL_COMMANDS = new Set([
  'ALTER', 'ANALYZE', 'CALL', 'CLUSTER', 'COMMENT', 'COPY', 'CREATE', 'DELETE', 'DISCARD', 'DO', 'DROP', 'EXPLAIN',
  'GRANT', 'IMPORT', 'INSERT', 'LISTEN', 'LOCK', 'MERGE', 'NOTIFY', 'REASSIGN', 'REFRESH', 'REINDEX', 'RESET', 'REVOKE',
  'SECURITY', 'SELECT', 'SET', 'SHOW', 'TABLE', 'TRUNCATE', 'UNLISTEN', 'UPDATE', 'VACUUM', 'VALUES', 'WITH',
]);

const INTO_COMMANDS = new Set(['SELECT', 'WITH', 'INSERT', 'UPDATE', 'DELETE', 'MERGE', 'VALUES', 'TABLE']);

class PlpgsqlReader {
  private position = 0;

  constructor(
    private readonly text: string,
    private readonly tokens: readonly Token[],
  ) {}

  readBody(): PlStatement[] {
    this.skipLabel();
    const first = this.peek();
    if (first === undefined) return [];
    if (first.upper !== 'DECLARE' && first.upper !== 'BEGIN') {
      throw new PlpgsqlSyntaxError(`PL/pgSQL body must start with DECLARE or BEGIN, found "${first.text}"`, first.start);
    }

    const block = this.readBlock();
    this.acceptSemicolon();

    const rest = this.peek();
    if (rest !== undefined) throw new PlpgsqlSyntaxError(`unexpected "${rest.text}" after the final END of the body`, rest.start);
    return [block];
  }

  private readBlock(): PlStatement {
    const start = this.peek()!.start;
    const declarations: Span[] = [];

    if (this.acceptWord('DECLARE')) {
      while (this.peek() !== undefined && this.peek()!.upper !== 'BEGIN') {
        const declarationStart = this.position;
        this.skipToSemicolon();
        declarations.push(this.spanOf(declarationStart, this.position - 1));
      }
    }

    this.expectWord('BEGIN');
    const body = this.readStatements(['EXCEPTION', 'END']);
    const handlers: Handler[] = [];

    if (this.acceptWord('EXCEPTION')) {
      while (this.acceptWord('WHEN')) {
        const conditions = this.readHandlerConditions();
        handlers.push({ conditions, body: this.readStatements(['WHEN', 'END']) });
      }
    }

    this.expectWord('END');
    const label = this.peek();
    if (label !== undefined && label.kind === 'word' && !this.isAt(';')) this.position += 1;
    return { kind: 'block', start, end: this.previousEnd(), declarations, body, handlers };
  }

  private readHandlerConditions(): string[] {
    const conditions: string[] = [];
    while (this.peek() !== undefined && this.peek()!.upper !== 'THEN') {
      const token = this.next();
      if (token.upper === 'OR') continue;
      if (token.upper === 'SQLSTATE') {
        const code = this.next();
        conditions.push(`sqlstate ${code.text.replace(/'/g, '')}`);
      } else {
        conditions.push(token.text.toLowerCase());
      }
    }
    this.expectWord('THEN');
    return conditions;
  }

  private readStatements(terminators: readonly string[]): PlStatement[] {
    const statements: PlStatement[] = [];
    for (;;) {
      const token = this.peek();
      if (token === undefined) return statements;
      if (token.kind === 'word' && terminators.includes(token.upper)) return statements;
      statements.push(this.readStatement());
    }
  }

  private readStatement(): PlStatement {
    this.skipLabel();
    const token = this.peek();
    if (token === undefined) throw new PlpgsqlSyntaxError('PL/pgSQL body ends inside a statement', this.text.length);

    switch (token.upper) {
      case 'DECLARE':
      case 'BEGIN': {
        const block = this.readBlock();
        this.expectSemicolon();
        return block;
      }
      case 'IF':
        return this.readIf();
      case 'CASE':
        return this.readCase();
      case 'LOOP':
      case 'WHILE':
      case 'FOR':
      case 'FOREACH':
        return this.readLoop();
      default:
        return this.readSimpleStatement();
    }
  }

  private readIf(): PlStatement {
    const start = this.next().start;
    const branches: Branch[] = [];

    let condition: Span | undefined = this.readExpressionUntil(['THEN']);
    this.expectWord('THEN');
    for (;;) {
      const body = this.readStatements(['ELSIF', 'ELSEIF', 'ELSE', 'END']);
      branches.push(condition === undefined ? { body } : { condition, body });

      const keyword = this.next();
      if (keyword.upper === 'ELSIF' || keyword.upper === 'ELSEIF') {
        condition = this.readExpressionUntil(['THEN']);
        this.expectWord('THEN');
      } else if (keyword.upper === 'ELSE') {
        condition = undefined;
      } else {
        break;
      }
    }

    this.expectWord('IF');
    this.expectSemicolon();
    return { kind: 'if', start, end: this.previousEnd(), branches };
  }

  private readCase(): PlStatement {
    const start = this.next().start;
    const subject = this.isAtWord('WHEN') ? undefined : this.readExpressionUntil(['WHEN']);
    const branches: Branch[] = [];

    while (this.acceptWord('WHEN')) {
      const condition = this.readExpressionUntil(['THEN']);
      this.expectWord('THEN');
      branches.push({ condition, body: this.readStatements(['WHEN', 'ELSE', 'END']) });
    }
    if (this.acceptWord('ELSE')) branches.push({ body: this.readStatements(['END']) });

    this.expectWord('END');
    this.expectWord('CASE');
    this.expectSemicolon();
    return subject === undefined
      ? { kind: 'case', start, end: this.previousEnd(), branches }
      : { kind: 'case', start, end: this.previousEnd(), subject, branches };
  }

  private readLoop(): PlStatement {
    const keyword = this.next();
    let header: LoopHeader | undefined;

    if (keyword.upper === 'WHILE') {
      header = { kind: 'expression', expression: this.readExpressionUntil(['LOOP']) };
    } else if (keyword.upper === 'FOREACH') {
      while (this.peek() !== undefined && this.peek()!.upper !== 'IN') this.position += 1;
      this.expectWord('IN');
      this.expectWord('ARRAY');
      header = { kind: 'expression', expression: this.readExpressionUntil(['LOOP']) };
    } else if (keyword.upper === 'FOR') {
      header = this.readForHeader();
    }

    this.expectWord('LOOP');
    const body = this.readStatements(['END']);
    this.expectWord('END');
    this.expectWord('LOOP');
    const label = this.peek();
    if (label !== undefined && label.kind === 'word') this.position += 1;
    this.expectSemicolon();

    const loop = { kind: 'loop' as const, start: keyword.start, end: this.previousEnd(), body };
    return header === undefined ? loop : { ...loop, header };
  }

  /** Reads `target IN ...` up to LOOP; an integer range (`1 .. n`) has no header the SQL parser could read. */
  private readForHeader(): LoopHeader | undefined {
    while (this.peek() !== undefined && this.peek()!.upper !== 'IN') this.position += 1;
    this.expectWord('IN');

    const first = this.peek();
    if (first !== undefined && first.upper === 'EXECUTE') {
      this.position += 1;
      const expression = this.readExpressionUntil(['USING', 'LOOP']);
      if (this.isAtWord('USING')) this.readExpressionUntil(['LOOP']);
      return { kind: 'execute', expression };
    }

    const isQuery = first !== undefined && (['SELECT', 'WITH', 'VALUES', 'TABLE'].includes(first.upper) || first.text === '(');
    const span = this.readExpressionUntil(['LOOP']);
    return isQuery ? { kind: 'query', query: span } : undefined;
  }

  private readSimpleStatement(): PlStatement {
    const startIndex = this.position;
    const first = this.next();
    this.position = startIndex;
    this.skipToSemicolon();
    const endIndex = this.position - 1;
    const start = first.start;
    const end = this.tokens[endIndex].end;
    const lastInside = endIndex - 1;

    const afterFirst = (offset = 1): Span => this.spanOf(startIndex + offset, lastInside);

    switch (first.upper) {
      case 'PERFORM':
        return { kind: 'perform', start, end, expression: afterFirst() };
      case 'EXECUTE':
        return { kind: 'execute', start, end, expression: this.spanUntilWord(startIndex + 1, lastInside, ['INTO', 'USING']) };
      case 'RETURN':
        return this.classifyReturn(startIndex, lastInside, start, end);
      case 'RAISE':
        return { kind: 'expressions', start, end, expressions: this.raiseExpressions(startIndex, lastInside) };
      case 'ASSERT':
        return { kind: 'expressions', start, end, expressions: [afterFirst()] };
      case 'EXIT':
      case 'CONTINUE': {
        const when = this.findWord(startIndex, lastInside, 'WHEN');
        return when === -1 ? { kind: 'other', start, end } : { kind: 'expressions', start, end, expressions: [this.spanOf(when + 1, lastInside)] };
      }
      case 'NULL':
      case 'GET':
      case 'OPEN':
      case 'FETCH':
      case 'MOVE':
      case 'CLOSE':
        return { kind: 'other', start, end };
      default:
        break;
    }

    const assignment = this.findAssignment(startIndex, lastInside);
    if (!SQL_COMMANDS.has(first.upper) && assignment !== -1) {
      return { kind: 'expressions', start, end, expressions: [this.spanOf(assignment + 1, lastInside)] };
    }

    const sqlEnd = this.tokens[lastInside]?.end ?? start;
    const into = INTO_COMMANDS.has(first.upper) ? this.findInto(startIndex, lastInside) : undefined;
    return into === undefined ? { kind: 'sql', start, end: sqlEnd } : { kind: 'sql', start, end: sqlEnd, into };
  }

  private classifyReturn(startIndex: number, lastInside: number, start: number, end: number): PlStatement {
    const second = this.tokens[startIndex + 1];
    if (second !== undefined && startIndex + 1 <= lastInside && second.upper === 'QUERY') {
      const third = this.tokens[startIndex + 2];
      if (third !== undefined && third.upper === 'EXECUTE') {
        return { kind: 'execute', start, end, expression: this.spanUntilWord(startIndex + 3, lastInside, ['USING']) };
      }
      const query = this.spanOf(startIndex + 2, lastInside);
      return { kind: 'sql', start: query.start, end: query.end };
    }

    const offset = second !== undefined && second.upper === 'NEXT' ? 2 : 1;
    if (startIndex + offset > lastInside) return { kind: 'other', start, end };
    return { kind: 'expressions', start, end, expressions: [this.spanOf(startIndex + offset, lastInside)] };
  }

  /** Returns the expressions after the format string of a RAISE, up to its USING options. */
  private raiseExpressions(startIndex: number, lastInside: number): Span[] {
    let index = startIndex + 1;
    while (index <= lastInside && this.tokens[index].kind === 'word' && this.tokens[index].upper !== 'USING') index += 1;
    if (index > lastInside || this.tokens[index].kind !== 'string') return [];

    const comma = index + 1;
    if (comma > lastInside || this.tokens[comma].text !== ',') return [];
    const expressions = this.spanUntilWord(comma + 1, lastInside, ['USING']);
    return expressions.end > expressions.start ? [expressions] : [];
  }

  /** Returns the index of `:=` or `=` that makes this an assignment, or -1. */
  private findAssignment(startIndex: number, lastInside: number): number {
    let index = startIndex;
    let depth = 0;
    while (index <= lastInside) {
      const token = this.tokens[index];
      if (token.text === '[' || token.text === '(') depth += 1;
      else if (token.text === ']' || token.text === ')') depth -= 1;
      else if (depth === 0 && (token.text === ':=' || token.text === '=')) return index;
      else if (depth === 0 && token.kind !== 'word' && token.kind !== 'quoted-identifier' && token.text !== '.' && token.kind !== 'number') return -1;
      index += 1;
    }
    return -1;
  }

  /** Finds PL/pgSQL's own `INTO [STRICT] target, ...` clause, which is not SQL and must be blanked before parsing. */
  private findInto(startIndex: number, lastInside: number): Span | undefined {
    let depth = 0;
    for (let index = startIndex; index <= lastInside; index += 1) {
      const token = this.tokens[index];
      if (token.text === '(' || token.text === '[') depth += 1;
      else if (token.text === ')' || token.text === ']') depth -= 1;
      if (depth !== 0 || token.upper !== 'INTO') continue;

      const previous = this.tokens[index - 1];
      if (previous !== undefined && (previous.upper === 'INSERT' || previous.upper === 'MERGE')) continue;

      let end = index + 1;
      if (this.tokens[end]?.upper === 'STRICT') end += 1;
      end = this.skipTargetList(end, lastInside);
      return { start: token.start, end: this.tokens[end - 1].end };
    }
    return undefined;
  }

  private skipTargetList(index: number, lastInside: number): number {
    let position = index;
    for (;;) {
      while (position <= lastInside && (this.tokens[position].kind === 'word' || this.tokens[position].kind === 'quoted-identifier')) {
        position += 1;
        if (position <= lastInside && this.tokens[position].text === '.') position += 1;
        else break;
      }
      if (position <= lastInside && this.tokens[position].text === ',') position += 1;
      else return position;
    }
  }

  /** Reads an expression up to one of `stops` at depth 0, treating CASE ... END as nested. */
  private readExpressionUntil(stops: readonly string[]): Span {
    const startIndex = this.position;
    let parens = 0;
    let cases = 0;

    for (;;) {
      const token = this.peek();
      if (token === undefined) throw new PlpgsqlSyntaxError(`expected ${stops.join(' or ')} before the end of the body`, this.text.length);
      if (parens === 0 && cases === 0 && token.kind === 'word' && stops.includes(token.upper)) break;
      if (parens === 0 && token.text === ';') throw new PlpgsqlSyntaxError(`expected ${stops.join(' or ')} before ";"`, token.start);

      if (token.text === '(' || token.text === '[') parens += 1;
      else if (token.text === ')' || token.text === ']') parens -= 1;
      else if (token.upper === 'CASE') cases += 1;
      else if (token.upper === 'END' && cases > 0) cases -= 1;
      this.position += 1;
    }

    return this.spanOf(startIndex, this.position - 1);
  }

  private spanUntilWord(startIndex: number, lastInside: number, stops: readonly string[]): Span {
    let depth = 0;
    for (let index = startIndex; index <= lastInside; index += 1) {
      const token = this.tokens[index];
      if (token.text === '(' || token.text === '[') depth += 1;
      else if (token.text === ')' || token.text === ']') depth -= 1;
      else if (depth === 0 && stops.includes(token.upper)) return this.spanOf(startIndex, index - 1);
    }
    return this.spanOf(startIndex, lastInside);
  }

  private findWord(startIndex: number, lastInside: number, word: string): number {
    for (let index = startIndex; index <= lastInside; index += 1) {
      if (this.tokens[index].upper === word) return index;
    }
    return -1;
  }

  /** Moves past the next `;` at parenthesis depth 0. */
  private skipToSemicolon(): void {
    let depth = 0;
    for (;;) {
      const token = this.peek();
      if (token === undefined) throw new PlpgsqlSyntaxError('statement is missing its closing ";"', this.text.length);
      this.position += 1;
      if (token.text === '(' || token.text === '[') depth += 1;
      else if (token.text === ')' || token.text === ']') depth -= 1;
      else if (token.text === ';' && depth <= 0) return;
    }
  }

  private skipLabel(): void {
    if (this.peek()?.text !== '<<') return;
    this.position += 1;
    this.next();
    if (this.peek()?.text !== '>>') throw new PlpgsqlSyntaxError('label is missing its closing ">>"', this.peek()?.start ?? this.text.length);
    this.position += 1;
  }

  /** Returns the span from the token at `firstIndex` to the token at `lastIndex`, inclusive; empty when lastIndex < firstIndex. */
  private spanOf(firstIndex: number, lastIndex: number): Span {
    const first = this.tokens[firstIndex];
    if (first === undefined || lastIndex < firstIndex) {
      const at = first?.start ?? this.text.length;
      return { start: at, end: at };
    }
    return { start: first.start, end: this.tokens[lastIndex].end };
  }

  private peek(): Token | undefined {
    return this.tokens[this.position];
  }

  private next(): Token {
    const token = this.tokens[this.position];
    if (token === undefined) throw new PlpgsqlSyntaxError('PL/pgSQL body ends too early', this.text.length);
    this.position += 1;
    return token;
  }

  private previousEnd(): number {
    return this.tokens[this.position - 1]?.end ?? 0;
  }

  private isAt(text: string): boolean {
    return this.peek()?.text === text;
  }

  private isAtWord(word: string): boolean {
    return this.peek()?.upper === word;
  }

  private acceptWord(word: string): boolean {
    if (!this.isAtWord(word)) return false;
    this.position += 1;
    return true;
  }

  private expectWord(word: string): void {
    const token = this.peek();
    if (token?.upper !== word) {
      const found = token === undefined ? 'the end of the body' : `"${token.text}"`;
      throw new PlpgsqlSyntaxError(`expected ${word}, found ${found}`, token?.start ?? this.text.length);
    }
    this.position += 1;
  }

  private acceptSemicolon(): void {
    if (this.isAt(';')) this.position += 1;
  }

  private expectSemicolon(): void {
    const token = this.peek();
    if (token?.text !== ';') {
      const found = token === undefined ? 'the end of the body' : `"${token.text}"`;
      throw new PlpgsqlSyntaxError(`expected ";", found ${found}`, token?.start ?? this.text.length);
    }
    this.position += 1;
  }
}
