import type { Command } from 'commander';

import { withDatabaseSession } from '../../connection/session';
import { checkHealth, DEFAULT_IDLE_IN_TRANSACTION_MS, DEFAULT_LOCK_WAIT_CRITICAL_MS, DEFAULT_LONG_RUNNING_QUERY_MS } from '../../health/check-health';
import type { HealthReport, HealthStatus } from '../../health/health-report';
import { globalOptionsOf, parseDurationMs, sessionOptionsOf } from '../context';
import { EXIT_CHECK_FAILED } from '../exit-codes';
import { colour, dotted, printJson, printProgress, printResult } from '../output';

interface HealthCommandOptions {
  readonly lockWaitLimit: string;
  readonly longQueryLimit: string;
  readonly idleInTransactionLimit: string;
}

export function registerHealthCommand(program: Command): Command {
  return program
    .command('health')
    .description('check the system tenant and its profile, function, role and indexes, row level security and api grants, locks, sessions, connections and the last deployment; exit 3 when unhealthy')
    .option('--lock-wait-limit <duration>', 'a session blocked this long by a lock makes the database unhealthy (ms, or with s/min)', `${DEFAULT_LOCK_WAIT_CRITICAL_MS / 1000}s`)
    .option('--long-query-limit <duration>', 'report active queries running this long (ms, or with s/min)', `${DEFAULT_LONG_RUNNING_QUERY_MS / 60_000}min`)
    .option('--idle-in-transaction-limit <duration>', 'report sessions idle in a transaction this long (ms, or with s/min)', `${DEFAULT_IDLE_IN_TRANSACTION_MS / 1000}s`)
    .addHelpText('after', '\nCritical findings (exit 3): a missing or wrong system tenant, function value, role permission or system index, a lock wait over --lock-wait-limit, connections at 95% or more, and a last migration run that FAILED or was left RUNNING.\n\nExamples:\n  $ onevault health\n  $ onevault health --json --lock-wait-limit 5s')
    .action(async (options: HealthCommandOptions, self: Command) => {
      const global = globalOptionsOf(self);
      const thresholds = {
        lockWaitCriticalMs: parseDurationMs(options.lockWaitLimit, '--lock-wait-limit'),
        longRunningQueryMs: parseDurationMs(options.longQueryLimit, '--long-query-limit'),
        idleInTransactionMs: parseDurationMs(options.idleInTransactionLimit, '--idle-in-transaction-limit'),
      };

      const report = await withDatabaseSession(sessionOptionsOf(global), (session) => checkHealth(session.client, thresholds));

      if (global.json) printJson(report);
      else renderHealthReport(report);
      if (!report.healthy) process.exitCode = EXIT_CHECK_FAILED;
    });
}

const STATUS_LABEL: Readonly<Record<HealthStatus, (text: string) => string>> = {
  ok: (text) => colour.green(text),
  warning: (text) => colour.yellow(text),
  critical: (text) => colour.red(text),
};

function renderHealthReport(report: HealthReport): void {
  printResult(`Health of database ${report.database} (PostgreSQL ${report.serverVersion}) at ${report.checkedAt.toISOString()}`);
  printResult();
  for (const finding of report.findings) {
    printResult(`${dotted(finding.name, 50)}${STATUS_LABEL[finding.status](finding.status.padEnd(8))} ${finding.summary}`);
  }

  if (report.indexUsage.length > 0) {
    printResult();
    printResult('Index usage (pg_stat_user_indexes, indexes named like %system%):');
    for (const index of report.indexUsage) {
      printResult(`  ${index.schema}.${index.index} on ${index.table}: ${index.scans} scans, ${index.tuplesRead} tuples read, ${index.tuplesFetched} fetched, ${index.sizeBytes} bytes${index.valid ? '' : ', INVALID'}`);
    }
  }
  for (const blocked of report.blockedSessions) {
    printResult(`  blocked: session ${blocked.pid} (${blocked.query}) waits for ${blocked.blockingPids.join(', ')} (${blocked.blockingState ?? 'unknown state'}: ${blocked.blockingQuery ?? 'unknown query'})`);
  }

  printResult();
  if (report.healthy) {
    printResult(colour.green('healthy'));
    return;
  }
  printResult(colour.red(`unhealthy: ${report.reasons.length} critical ${report.reasons.length === 1 ? 'finding' : 'findings'}`));
  for (const reason of report.reasons) printProgress(`  ${reason}`);
}
