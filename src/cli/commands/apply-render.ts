import type { ApplyReport, DeployEvent } from '../../apply/deploy';
import { describeLockHolder } from '../../lock/advisory-lock';
import { colour, dotted, formatDuration, printProgress, printResult } from '../output';

/** Renders deploy and rollback progress as text: NOTICE lines as the migrations print them, a line per migration. */
export function renderApplyEvent(event: DeployEvent): void {
  switch (event.type) {
    case 'lock-wait': {
      printProgress(`Waiting for the deploy lock, held by ${describeLockHolder(event.holder)}...`);
      break;
    }
    case 'migration-start':
      printProgress(`${event.direction === 'FORWARD' ? 'Deploying' : 'Rolling back'} ${event.version} ${event.name}`);
      break;
    case 'notice':
      printResult(event.message);
      break;
    case 'retry':
      printProgress(`${event.version}: lock timeout, retry ${event.attempt} in ${formatDuration(event.delayMs)} (${event.reason})`);
      break;
    case 'migration-done':
      break;
  }
}

/** Prints one aligned line per migration, then a summary with counts and duration. */
export function renderApplyReport(report: ApplyReport): void {
  const verb = report.direction === 'FORWARD' ? 'deploy' : 'rollback';
  printResult();
  for (const outcome of report.outcomes) {
    const label = dotted(`${report.direction === 'FORWARD' ? '+' : '-'} ${outcome.version} ${outcome.name}`);
    if (outcome.status === 'failed') printResult(`${label}${colour.red('not ok')}`);
    else if (outcome.status === 'not run') printResult(`${label}${colour.yellow('not run')}`);
    else printResult(`${label}${colour.green('ok')} (${formatDuration(outcome.durationMs ?? 0)})`);
  }

  const done = report.outcomes.filter((outcome) => outcome.status === 'applied' || outcome.status === 'rolled back').length;
  const failed = report.outcomes.filter((outcome) => outcome.status === 'failed').length;
  const notRun = report.outcomes.filter((outcome) => outcome.status === 'not run').length;
  if (report.outcomes.length === 0) {
    printResult(report.direction === 'FORWARD' ? 'Nothing to deploy: every migration is applied.' : 'Nothing to roll back.');
  }
  printResult(`${verb}: ${done} ${report.direction === 'FORWARD' ? 'applied' : 'rolled back'}, ${failed} failed, ${notRun} not run, ${report.unchanged.length} unchanged, in ${formatDuration(report.durationMs)}`);
}
