import { RuleCode, Severity } from './rules';

/** One rule violation, ready to print or serialise. */
export interface LintFinding {
  readonly code: RuleCode;
  /** Title of the rule. */
  readonly rule: string;
  readonly severity: Severity;
  readonly message: string;
  readonly fix: string;
  /** Line and column counted from 1; column counts code points. */
  readonly line: number;
  readonly column: number;
  /** The start of the statement the finding is about, whitespace collapsed; empty for file findings. */
  readonly statement: string;
}

/** A finding that a `-- onevault:allow` comment accepted. */
export interface WaivedFinding {
  readonly code: RuleCode;
  readonly line: number;
  readonly reason: string;
}

/** Findings of one file, sorted by position. */
export interface FileReport {
  readonly path: string;
  readonly findings: readonly LintFinding[];
  readonly waived: readonly WaivedFinding[];
}

/** Result of linting a set of migration files. */
export interface LintReport {
  readonly files: readonly FileReport[];
  readonly summary: {
    readonly files: number;
    readonly findings: number;
    readonly waived: number;
  };
}
