import type { Command } from 'commander';

import { withDatabaseSession } from '../../connection/session';
import { DEFAULT_LOCK_WAIT_MS } from '../../lock/advisory-lock';
import { restoreBackup, type RestoreReport } from '../../restore/restore';
import { globalOptionsOf, parseDurationMs, sessionOptionsOf } from '../context';
import { EXIT_CHECK_FAILED } from '../exit-codes';
import { withInterruptSignal } from '../interrupt';
import { colour, dotted, formatDuration, printJson, printProgress, printResult } from '../output';
import { renderApplyEvent } from './apply-render';

interface RestoreCommandOptions {
  readonly lockTimeout: string;
}

export function registerRestoreCommand(program: Command): Command {
  return program
    .command('restore')
    .argument('<backup-schema>', 'schema that a rollback created, named onevault_backup_<version>_<time>_<hex>')
    .description('put back the rows that a rollback backed up, in foreign-key order, in one transaction; exit 3 when some rows stay out')
    .option('--lock-timeout <duration>', 'how long to wait for a deploy, rollback or restore of the same database to finish (ms, or with s/min)', `${DEFAULT_LOCK_WAIT_MS / 1000}s`)
    .addHelpText(
      'after',
      '\nThe tables must exist (deploy first). A row whose primary key exists already is kept as it is; a row whose unique value is taken by another row, such as a newer current satellite version, is left out and counted (exit 3).\n\nExamples:\n  $ onevault restore onevault_backup_v001_20261204201500_1a2b3c4d\n  $ onevault restore onevault_backup_v001_20261204201500_1a2b3c4d --json',
    )
    .action(async (backupSchema: string, options: RestoreCommandOptions, self: Command) => {
      const global = globalOptionsOf(self);
      const lockWaitMs = parseDurationMs(options.lockTimeout, '--lock-timeout');

      const report = await withInterruptSignal((signal) =>
        withDatabaseSession(sessionOptionsOf(global), (session) =>
          restoreBackup(session.client, {
            backupSchema,
            lockWaitMs,
            signal,
            onLockWait: global.json ? undefined : (holder) => renderApplyEvent({ type: 'lock-wait', holder }),
          }),
        ),
      );

      if (global.json) printJson(report);
      else renderRestoreReport(report);
      if (!report.complete) process.exitCode = EXIT_CHECK_FAILED;
    });
}

function renderRestoreReport(report: RestoreReport): void {
  printResult(`Restore of ${report.backupSchema} (rollback ${report.version}, run ${report.rollbackRunId}):`);
  for (const table of report.tables) {
    const counts = `${table.backedUp} backed up: ${table.inserted} inserted, ${table.alreadyPresent} already present, ${table.keptExisting} kept with other values, ${table.notRestored} not restored`;
    printResult(`${dotted(`  ${table.table}`)}${table.notRestored === 0 ? colour.green('ok') : colour.yellow('incomplete')} (${counts})`);
  }
  printResult(`restore: ${report.inserted} rows inserted into ${report.tables.length} tables, in ${formatDuration(report.durationMs)}`);
  if (!report.complete) {
    printProgress('Some backed-up rows were not restored because other rows hold their unique values (for example a newer current satellite version); those rows were kept. Compare them by hand, or restore before deploying the migration again.');
  }
}
