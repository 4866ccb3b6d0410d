import type { ClientConfig } from 'pg';

import type { FindToolOptions } from '../backup/find-postgres-tool';
import { connectClient } from '../connection/connect';
import { OnevaultError } from '../errors';
import { loadMigrations } from '../migrations/catalog';
import {
  CHECK_GROUPS,
  type CheckGroup,
  type CheckOutcome,
  type CheckResult,
  type DeploymentTestEvent,
  type DeploymentTestReport,
  type DeploymentTestSummary,
  type PerformanceSettings,
  type SuiteContext,
} from './check-result';
import { idempotencyChecks } from './idempotency';
import { indexChecks } from './indexes';
import { migrationLogChecks } from './migration-log';
import { DEFAULT_PERFORMANCE_BOUND_MS, DEFAULT_PERFORMANCE_RUNS, performanceChecks } from './performance';
import { prerequisiteChecks } from './prerequisites';
import { rollbackReadinessChecks } from './rollback-readiness';
import { securityChecks } from './security';
import { systemRoleChecks } from './system-role';
import { systemTenantChecks } from './system-tenant';
import { utilityFunctionChecks } from './utility-function';

/** Every check group, in report order. */
export const DEPLOYMENT_CHECK_GROUPS: readonly CheckGroup[] = [
  prerequisiteChecks,
  migrationLogChecks,
  systemTenantChecks,
  systemRoleChecks,
  utilityFunctionChecks,
  indexChecks,
  idempotencyChecks,
  rollbackReadinessChecks,
  securityChecks,
  performanceChecks,
];

export interface DeploymentTestOptions {
  /** Settings that connect to the deployed database to test. No session of the caller may stay open on it, or the scratch copies fall back to pg_dump. */
  readonly config: ClientConfig;
  readonly migrationsDir: string;
  readonly signal?: AbortSignal;
  readonly onEvent?: (event: DeploymentTestEvent) => void;
  readonly performance?: Partial<PerformanceSettings>;
  /** Search folders for pg_dump and pg_restore, used when a scratch copy needs them; see `findPostgresTool`. */
  readonly findTool?: FindToolOptions;
  /** Run only these groups; every group when absent. */
  readonly groups?: readonly string[];
}

/**
 * Runs the deployment test suite against a deployed database and returns one result per check
 * with a summary. Never modifies the target: the read-only checks use a session with
 * `default_transaction_read_only` on, and the idempotency and rollback checks work in scratch
 * copies that are always dropped. A failing check is a result, not an exception. It throws only
 * when the migrations folder cannot be read, the target cannot be reached, or the run is interrupted.
 */
export async function runDeploymentTests(options: DeploymentTestOptions): Promise<DeploymentTestReport> {
  const startedAt = new Date();
  const migrations = await loadMigrations(options.migrationsDir);
  const groups = selectGroups(options.groups);
  const results: CheckResult[] = [];
  const emit = (event: DeploymentTestEvent): void => options.onEvent?.(event);

  const client = await connectClient(options.config, 'target database');
  let context: SuiteContext;
  let serverVersion: string;
  try {
    await client.query(`SET default_transaction_read_only = on`);
    const server = (await client.query<{ database: string; version: string; version_num: string }>(
      `SELECT current_database() AS database, current_setting('server_version') AS version, current_setting('server_version_num') AS version_num`,
    )).rows[0];
    serverVersion = server.version;
    context = {
      client,
      config: options.config,
      database: server.database,
      serverVersionNum: Number(server.version_num),
      migrations,
      signal: options.signal,
      emit,
      findTool: options.findTool,
      performance: {
        runs: options.performance?.runs ?? DEFAULT_PERFORMANCE_RUNS,
        boundMs: options.performance?.boundMs ?? DEFAULT_PERFORMANCE_BOUND_MS,
      },
    };

    // The session stays open only for the groups that read the target, because
    // CREATE DATABASE ... TEMPLATE needs a source without sessions.
    for (const group of groups.filter((candidate) => !candidate.usesScratchCopy)) {
      await runGroup(group, context, results, emit, options.signal);
    }
  } finally {
    await client.end().catch(() => undefined);
  }

  for (const group of groups.filter((candidate) => candidate.usesScratchCopy)) {
    await runGroup(group, context, results, emit, options.signal);
  }

  const ordered = orderResults(results, groups);
  return { database: context.database, serverVersion, startedAt, checks: ordered, summary: summarize(ordered, Date.now() - startedAt.getTime()) };
}

function selectGroups(names: readonly string[] | undefined): readonly CheckGroup[] {
  if (names === undefined || names.length === 0) return DEPLOYMENT_CHECK_GROUPS;
  const unknown = names.filter((name) => !(CHECK_GROUPS as readonly string[]).includes(name));
  if (unknown.length > 0) {
    throw new OnevaultError('INVALID_ARGUMENT', `Unknown check group ${unknown.map((name) => `"${name}"`).join(', ')}.`, { hint: `Choose from: ${CHECK_GROUPS.join(', ')}.` });
  }
  return DEPLOYMENT_CHECK_GROUPS.filter((group) => names.includes(group.group));
}

async function runGroup(group: CheckGroup, context: SuiteContext, results: CheckResult[], emit: (event: DeploymentTestEvent) => void, signal: AbortSignal | undefined): Promise<void> {
  if (signal?.aborted) throw new OnevaultError('INTERRUPTED', 'The deployment tests were interrupted.');
  emit({ type: 'group-start', group: group.group });

  const recorded = new Set<string>();
  let lastFinished = Date.now();
  const record = (name: string, outcome: CheckOutcome): void => {
    const now = Date.now();
    const result = toResult(group, name, outcome, now - lastFinished);
    lastFinished = now;
    recorded.add(name);
    results.push(result);
    emit({ type: 'check-done', result });
  };

  try {
    await group.run(context, record);
  } catch (error) {
    if (signal?.aborted || (error instanceof OnevaultError && error.code === 'INTERRUPTED')) throw error;
    const message = error instanceof Error ? error.message : String(error);
    for (const name of group.checks.filter((check) => !recorded.has(check))) {
      record(name, { status: 'ERROR', found: `error: ${message}`, expected: 'the check to run' });
    }
  }
}

function toResult(group: CheckGroup, name: string, outcome: CheckOutcome, durationMs: number): CheckResult {
  const details = `found: ${outcome.found}; expected: ${outcome.expected}${outcome.note ? `. ${outcome.note}` : ''}`;
  return { name, group: group.group, ...outcome, details, durationMs };
}

function orderResults(results: readonly CheckResult[], groups: readonly CheckGroup[]): CheckResult[] {
  const position = (result: CheckResult): number => {
    const groupIndex = groups.findIndex((group) => group.group === result.group);
    return groupIndex * 1000 + groups[groupIndex].checks.indexOf(result.name);
  };
  return [...results].sort((a, b) => position(a) - position(b));
}

/** Counts the results; the success rate leaves SKIPPED checks out. */
export function summarize(results: readonly CheckResult[], durationMs: number): DeploymentTestSummary {
  const count = (status: CheckResult['status']): number => results.filter((result) => result.status === status).length;
  const passed = count('PASSED');
  const failed = count('FAILED');
  const errors = count('ERROR');
  const skipped = count('SKIPPED');
  const rated = results.length - skipped;
  return {
    total: results.length,
    passed,
    failed,
    errors,
    skipped,
    successRate: rated === 0 ? 0 : Math.round((passed / rated) * 10_000) / 100,
    overallStatus: failed === 0 && errors === 0 ? 'PASSED' : 'FAILED',
    durationMs,
  };
}
