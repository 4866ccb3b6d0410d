import { RuleCode } from './rules';
import { SourceText } from './source-text';
import { VisitedStatement, WalkResult } from './walk';

/** Kind of migration file, from its name; files with another name are checked as forward files. */
export type MigrationKind = 'forward' | 'rollback';

/** A rule violation before waivers are applied and before positions become line and column. */
export interface Detection {
  readonly code: RuleCode;
  readonly message: string;
  /** UTF-16 index in the file that the finding points at. */
  readonly index: number;
  /** The statement the finding is about; absent for findings about the whole file. */
  readonly statement?: VisitedStatement;
}

/** One migration file, parsed and walked, as the checks see it. */
export interface CheckedFile {
  readonly path: string;
  readonly kind: MigrationKind;
  readonly source: SourceText;
  readonly walk: WalkResult;
}

/** Function that reads one walked file and returns its detections. Bad SQL reaches it only as walk errors. */
export type Check = (file: CheckedFile) => Detection[];

/** Returns a detection about a statement, pointing at the statement's first token. */
export function detectAt(code: RuleCode, statement: VisitedStatement, message: string, index = statement.index): Detection {
  return { code, message, index, statement };
}

/** Returns the statements a check inspects: real statements, not PL/pgSQL expressions parsed as SELECT. */
export function statementsOf(file: CheckedFile): VisitedStatement[] {
  return file.walk.statements.filter((statement) => !statement.context.isExpression);
}

/** Returns the statements that run when the file runs: not those inside function bodies, which run when the function is called. */
export function deployStatementsOf(file: CheckedFile): VisitedStatement[] {
  return statementsOf(file).filter((statement) => !statement.context.inFunctionBody);
}
