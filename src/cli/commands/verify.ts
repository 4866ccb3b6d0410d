import type { Command } from 'commander';

import { withDatabaseSession } from '../../connection/session';
import { formatDifferences } from '../../fingerprint';
import type { FingerprintDifference } from '../../fingerprint';
import { loadMigrations } from '../../migrations/catalog';
import { DEFAULT_SCRATCH_PREFIX, verifyMigrations } from '../../verify';
import type { StepResult, VerifyEvent, VerifyReport } from '../../verify';
import { globalOptionsOf, sessionOptionsOf } from '../context';
import { EXIT_CHECK_FAILED } from '../exit-codes';
import { withInterruptSignal } from '../interrupt';
import { colour, dotted, formatDuration, printJson, printProgress, printResult } from '../output';

interface VerifyCommandOptions {
  readonly from?: string;
  readonly to?: string;
  readonly scratchPrefix: string;
}

const DIFFERENCE_INDENT = '      ';
const CHANGE_SIGNS: Readonly<Record<FingerprintDifference['change'], string>> = { added: '+', removed: '-', changed: '~' };

export function registerVerifyCommand(program: Command): Command {
  return program
    .command('verify')
    .description(
      'prove each migration idempotent and rollback-ready in a throwaway database on the same server, never the target; exit 3 when a proof fails',
    )
    .option('--from <version>', 'first migration to prove; earlier ones are applied without proof')
    .option('--to <version>', 'last migration to prove')
    .option('--scratch-prefix <prefix>', 'start of the throwaway database name, followed by 12 random hex digits', DEFAULT_SCRATCH_PREFIX)
    .addHelpText(
      'after',
      '\nSteps per migration: deploy, redeploy, redeploy as psql, rollback, rollback again, deploy after rollback. ' +
        'Each later step compares database fingerprints; changes to util.migration_log, audit rows, onevault_backup_* schemas ' +
        'and extensions are shown as history and never fail a step.\n\n' +
        'Examples:\n  $ onevault verify\n  $ onevault verify --from V001 --json --database-url postgres://postgres@127.0.0.1:5432/postgres',
    )
    .action(async (options: VerifyCommandOptions, self: Command) => {
      const global = globalOptionsOf(self);
      // A broken migrations folder is reported before any connection is made.
      await loadMigrations(global.migrations);

      const report = await withInterruptSignal((signal) =>
        withDatabaseSession(sessionOptionsOf(global), (session) =>
          verifyMigrations({
            adminUrl: session.config,
            migrationsDir: global.migrations,
            from: options.from,
            to: options.to,
            scratchDatabasePrefix: options.scratchPrefix,
            signal,
            onProgress: (event) => renderVerifyEvent(event, global.json === true),
          }),
        ),
      );

      if (global.json) printJson(report);
      else renderVerifyReport(report);
      if (report.status === 'FAILED') process.exitCode = EXIT_CHECK_FAILED;
    });
}

function renderVerifyEvent(event: VerifyEvent, json: boolean): void {
  // A scratch database left behind needs the operator's attention even under --json.
  if (event.type === 'scratch-drop-failed') {
    printProgress(`warning: ${event.error.message}`);
    if (event.error.hint) printProgress(`  hint: ${event.error.hint}`);
    return;
  }
  if (json) return;

  switch (event.type) {
    case 'scratch-created':
      printProgress(`Created scratch database ${event.database}; the target database is not changed.`);
      break;
    case 'prepare':
      printProgress(`Applying ${event.version} ${event.name} without proof (before --from)`);
      break;
    case 'step-start':
      printProgress(`${event.version} ${event.name}: ${event.step}`);
      break;
    case 'scratch-dropped':
      printProgress(`Dropped scratch database ${event.database}.`);
      break;
    case 'step-done':
    case 'migration-done':
      break;
  }
}

/** Prints one aligned line per step under each migration, the failures below it, then a summary. */
function renderVerifyReport(report: VerifyReport): void {
  for (const version of report.prepared) printResult(`${version} applied without proof`);

  for (const proof of report.migrations) {
    printResult(`${proof.version} ${proof.name}`);
    for (const step of proof.steps) renderStep(step);
  }

  const count = (status: string): number => report.migrations.filter((proof) => proof.status === status).length;
  const fingerprints = report.fingerprints;
  printResult();
  printResult(
    `verify: ${count('PASSED')} passed, ${count('FAILED')} failed, ${count('NOT RUN')} not run, in ${formatDuration(report.durationMs)} ` +
      `(${fingerprints.count} fingerprints, ${formatDuration(fingerprints.totalMs)}, slowest ${formatDuration(fingerprints.maxMs)})`,
  );
}

function renderStep(step: StepResult): void {
  const label = dotted(`  ${step.step}`);
  if (step.status === 'NOT RUN') {
    printResult(`${label}${colour.yellow('not run')}`);
    return;
  }

  const verdict = step.status === 'PASSED' ? colour.green('ok') : colour.red('not ok');
  printResult(`${label}${verdict} (${formatDuration(step.durationMs)})`);

  if (step.error !== undefined) {
    printResult(`${DIFFERENCE_INDENT}error ${step.error.code}: ${step.error.message}`);
    if (step.error.hint) printResult(`${DIFFERENCE_INDENT}hint: ${step.error.hint}`);
  }
  if (step.differences.length > 0) {
    printResult(indent(formatDifferences(step.differences)));
  }
  if (step.informational.length > 0) {
    printResult(`${DIFFERENCE_INDENT}history: ${step.informational.map(summarizeHistoryChange).join(', ')}`);
  }
}

function summarizeHistoryChange(difference: FingerprintDifference): string {
  if (difference.rows !== undefined) {
    const delta = difference.rows.countAfter - difference.rows.countBefore;
    if (delta === 0) return `${difference.name} rows changed`;
    return `${difference.name} ${delta > 0 ? '+' : ''}${delta} ${Math.abs(delta) === 1 ? 'row' : 'rows'}`;
  }
  return `${CHANGE_SIGNS[difference.change]} ${difference.kind} ${difference.name}`;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `${DIFFERENCE_INDENT}${line}`)
    .join('\n');
}
