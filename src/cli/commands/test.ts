import type { Command } from 'commander';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

import { withDatabaseSession } from '../../connection/session';
import { CHECK_GROUPS, type CheckResult, type DeploymentTestEvent, type DeploymentTestReport } from '../../deployment-tests/check-result';
import { DEFAULT_PERFORMANCE_BOUND_MS, DEFAULT_PERFORMANCE_RUNS } from '../../deployment-tests/performance';
import { MAX_SERVER_MAJOR, MIN_SERVER_MAJOR } from '../../deployment-tests/prerequisites';
import { runDeploymentTests } from '../../deployment-tests/run-deployment-tests';
import { renderJunit } from '../../report/junit';
import { globalOptionsOf, parseCount, parseDurationMs, sessionOptionsOf } from '../context';
import { EXIT_CHECK_FAILED } from '../exit-codes';
import { withInterruptSignal } from '../interrupt';
import { colour, formatDuration, printJson, printProgress, printResult } from '../output';

interface TestCommandOptions {
  readonly junit?: string;
  readonly group?: string[];
  readonly performanceBound: string;
  readonly performanceRuns: string;
}

export function registerTestCommand(program: Command): Command {
  return program
    .command('test')
    .description('run the deployment test suite against a deployed database; exit 3 unless every check passed or was skipped')
    .option('--junit <file>', 'also write the results as JUnit XML to FILE, for CI systems')
    .option('--group <name...>', `run only these check groups (${CHECK_GROUPS.join(', ')})`)
    .option('--performance-bound <duration>', 'upper bound of the median server-side execution time of each lookup (ms, or with s)', `${DEFAULT_PERFORMANCE_BOUND_MS}ms`)
    .option('--performance-runs <count>', 'timed runs per lookup; their median is compared with the bound', String(DEFAULT_PERFORMANCE_RUNS))
    .addHelpText(
      'after',
      `\nThe target is never modified: idempotency and rollback checks run in scratch copies (CREATE DATABASE ... TEMPLATE, or pg_dump and pg_restore when other sessions use the target), which are dropped afterwards, also on Ctrl-C.\nSupported servers: PostgreSQL ${MIN_SERVER_MAJOR} to ${MAX_SERVER_MAJOR}. The success rate leaves SKIPPED checks out.\n\nExamples:\n  $ onevault test\n  $ onevault test --junit reports/deployment-tests.xml\n  $ onevault test --group security performance --json`,
    )
    .action(async (options: TestCommandOptions, self: Command) => {
      const global = globalOptionsOf(self);
      const performance = {
        boundMs: parseDurationMs(options.performanceBound, '--performance-bound'),
        runs: parseCount(options.performanceRuns, '--performance-runs', 1, 1000),
      };

      const report = await withInterruptSignal((signal) =>
        withDatabaseSession(sessionOptionsOf(global), async (session) => {
          // CREATE DATABASE ... TEMPLATE needs a target without sessions, so this one is closed
          // here and the suite opens its own sessions from the same settings.
          await session.client.end();
          return runDeploymentTests({
            config: session.config,
            migrationsDir: global.migrations,
            signal,
            groups: options.group,
            performance,
            onEvent: renderTestEvent,
          });
        }),
      );

      if (options.junit) {
        await fs.mkdir(path.dirname(path.resolve(options.junit)), { recursive: true });
        await fs.writeFile(options.junit, renderJunit(report));
      }
      if (global.json) printJson(report);
      else renderTestReport(report);
      if (report.summary.overallStatus !== 'PASSED') process.exitCode = EXIT_CHECK_FAILED;
    });
}

/** Writes progress to stderr, so that it shows during the scratch copies and stays out of JSON. */
function renderTestEvent(event: DeploymentTestEvent): void {
  switch (event.type) {
    case 'group-start':
      printProgress(`Checking ${event.group} ...`);
      break;
    case 'check-done':
      printProgress(`  ${event.result.status.padEnd(7)} ${event.result.name}`);
      break;
    case 'scratch-created':
      printProgress(`  created scratch copy ${event.database} (${event.method}) for ${event.purpose}`);
      break;
    case 'scratch-dropped':
      printProgress(`  dropped scratch copy ${event.database}`);
      break;
    case 'progress':
      printProgress(`  ${event.message}`);
      break;
  }
}

const STATUS_COLOUR: Readonly<Record<CheckResult['status'], (text: string) => string>> = {
  PASSED: colour.green,
  FAILED: colour.red,
  ERROR: colour.red,
  SKIPPED: colour.yellow,
};

function renderTestReport(report: DeploymentTestReport): void {
  const groupWidth = Math.max(...report.checks.map((check) => check.group.length), 5);
  const nameWidth = Math.max(...report.checks.map((check) => check.name.length), 5);
  printResult(`Deployment tests of database ${report.database} (PostgreSQL ${report.serverVersion})`);
  printResult();
  printResult(`${'group'.padEnd(groupWidth)}  ${'check'.padEnd(nameWidth)}  status   details`);
  for (const check of report.checks) {
    printResult(`${check.group.padEnd(groupWidth)}  ${check.name.padEnd(nameWidth)}  ${STATUS_COLOUR[check.status](check.status.padEnd(7))}  ${check.details}`);
  }

  const summary = report.summary;
  printResult();
  printResult(`Total: ${summary.total}  Passed: ${summary.passed}  Failed: ${summary.failed}  Errors: ${summary.errors}  Skipped: ${summary.skipped}`);
  printResult(`Success rate: ${summary.successRate.toFixed(2)}% (passed of the checks that ran; SKIPPED checks are left out)`);
  printResult(`Overall status: ${summary.overallStatus === 'PASSED' ? colour.green('PASSED') : colour.red('FAILED')} in ${formatDuration(summary.durationMs)}`);
}
