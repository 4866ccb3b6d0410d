import type { ClientBase, ClientConfig } from 'pg';

import type { FindToolOptions } from '../backup/find-postgres-tool';
import type { Migration } from '../migrations/catalog';

/** Outcome of one check. ERROR means the check itself could not run (a query failed). */
export type CheckStatus = 'PASSED' | 'FAILED' | 'ERROR' | 'SKIPPED';

/** Check groups in report order. */
export const CHECK_GROUPS = [
  'prerequisites',
  'migration log',
  'system tenant',
  'system role',
  'utility function',
  'indexes',
  'idempotency',
  'rollback readiness',
  'security',
  'performance',
] as const;

export type CheckGroupName = (typeof CHECK_GROUPS)[number];

/** Finding of one check, before the runner adds its name, group and duration. */
export interface CheckOutcome {
  readonly status: CheckStatus;
  /** The value found in the database. */
  readonly found: string;
  /** The value the check expects. */
  readonly expected: string;
  /** Further explanation: the query, the reason for a bound, the differences found. */
  readonly note?: string;
}

export interface CheckResult extends CheckOutcome {
  readonly name: string;
  readonly group: CheckGroupName;
  /** One line for humans: found and expected, and the note when there is one. */
  readonly details: string;
  readonly durationMs: number;
}

export interface DeploymentTestSummary {
  readonly total: number;
  readonly passed: number;
  readonly failed: number;
  readonly errors: number;
  readonly skipped: number;
  /** passed / (total - skipped) * 100 with two decimals: SKIPPED checks are left out of the rate. 0 when every check was skipped. */
  readonly successRate: number;
  /** PASSED only when no check FAILED or ended in ERROR. */
  readonly overallStatus: 'PASSED' | 'FAILED';
  readonly durationMs: number;
}

export interface DeploymentTestReport {
  readonly database: string;
  readonly serverVersion: string;
  readonly startedAt: Date;
  readonly checks: readonly CheckResult[];
  readonly summary: DeploymentTestSummary;
}

export type DeploymentTestEvent =
  | { readonly type: 'group-start'; readonly group: CheckGroupName }
  | { readonly type: 'check-done'; readonly result: CheckResult }
  | { readonly type: 'scratch-created'; readonly database: string; readonly method: 'template' | 'dump and restore'; readonly purpose: string }
  | { readonly type: 'scratch-dropped'; readonly database: string }
  | { readonly type: 'progress'; readonly message: string };

/** Settings and session that every check group receives. */
export interface SuiteContext {
  /** Read-only session on the target database. The runner closes it before the scratch-copy groups run, so they must not use it. */
  readonly client: ClientBase;
  /** Settings that connect to the target database, for scratch copies. */
  readonly config: ClientConfig;
  readonly database: string;
  readonly serverVersionNum: number;
  readonly migrations: readonly Migration[];
  readonly signal?: AbortSignal;
  readonly emit: (event: DeploymentTestEvent) => void;
  readonly performance: PerformanceSettings;
  /** Search folders for pg_dump and pg_restore, used when a scratch copy needs them. */
  readonly findTool?: FindToolOptions;
}

export interface PerformanceSettings {
  /** Timed runs per query; the median of their server-side execution times is compared with the bound. */
  readonly runs: number;
  /** Upper bound of the median execution time in milliseconds. */
  readonly boundMs: number;
}

/**
 * A group of checks. `checks` lists the names the group reports, in order, so that the runner can
 * report each of them as ERROR when the group stops early. `run` reports each outcome with `record`.
 */
export interface CheckGroup {
  readonly group: CheckGroupName;
  readonly checks: readonly string[];
  /** True when the group works in a scratch copy and needs no session on the target. */
  readonly usesScratchCopy: boolean;
  readonly run: (context: SuiteContext, record: (name: string, outcome: CheckOutcome) => void) => Promise<void>;
}

/** Returns PASSED when `found` equals `expected`, else FAILED, with both values. */
export function expectEqual(found: string, expected: string, note?: string): CheckOutcome {
  return { status: found === expected ? 'PASSED' : 'FAILED', found, expected, note };
}

/** Returns PASSED or FAILED by `passed`, with the values found and expected. */
export function expectThat(passed: boolean, found: string, expected: string, note?: string): CheckOutcome {
  return { status: passed ? 'PASSED' : 'FAILED', found, expected, note };
}

/** A check that runs on its own: one query, one outcome. */
export interface SimpleCheck {
  readonly name: string;
  readonly run: (context: SuiteContext) => Promise<CheckOutcome>;
}

/**
 * Builds a group of independent checks: each runs on its own, and one that throws is reported as
 * ERROR without stopping the others.
 */
export function groupOf(group: CheckGroupName, checks: readonly SimpleCheck[]): CheckGroup {
  return {
    group,
    checks: checks.map((check) => check.name),
    usesScratchCopy: false,
    run: async (context, record) => {
      for (const check of checks) {
        try {
          record(check.name, await check.run(context));
        } catch (error) {
          record(check.name, errorOutcome(error));
        }
      }
    },
  };
}

/** Turns an exception into an ERROR outcome that names it. */
export function errorOutcome(error: unknown): CheckOutcome {
  const message = error instanceof Error ? error.message : String(error);
  return { status: 'ERROR', found: `error: ${message}`, expected: 'the check to run' };
}

/** Formats a list of strings for a details line: `[a, b]`, or `none` when empty. */
export function listText(values: readonly string[]): string {
  return values.length === 0 ? 'none' : `[${values.join(', ')}]`;
}
