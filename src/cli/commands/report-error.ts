import type { OnevaultError } from '../../errors';
import { exitCodeFor } from '../exit-codes';
import { printProgress } from '../output';

/** Prints an error with its code and hint to stderr and sets the exit code; JSON output already carries it. */
export function throwIfFailed(error: OnevaultError, json: boolean): void {
  process.exitCode = exitCodeFor(error.code);
  if (!json) printError(error);
}

/** Renders an error as `error CODE: message`, its hint, and the PostgreSQL detail when there is one. */
export function printError(error: OnevaultError): void {
  printProgress(`error ${error.code}: ${error.message}`);
  if (error.postgres?.detail) printProgress(`  detail: ${error.postgres.detail}`);
  // The context of a RAISE in the file itself only repeats where the message came from.
  const context = error.postgres?.where?.split('\n')[0];
  if (context && !context.endsWith('at RAISE')) printProgress(`  context: ${context}`);
  if (error.hint) printProgress(`  hint: ${error.hint}`);
}
