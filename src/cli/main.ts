import { Command, CommanderError } from 'commander';

import { OnevaultError } from '../errors';
import { registerCommands } from './commands';
import { printError } from './commands/report-error';
import { defaultMigrationsDir } from './context';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, exitCodeFor } from './exit-codes';
import { installSignalHandlers } from './interrupt';
import { jsonReplacer } from './output';

/** Builds the command-line program with every command registered. */
export function buildProgram(): Command {
  const program = new Command();
  program
    .name('onevault')
    .description('Deploy, roll back and prove the migrations of the OneVault Data Vault 2.0 platform on PostgreSQL.')
    .version(readVersion())
    .option('--database-url <url>', 'PostgreSQL URL of the target database; else DATABASE_URL, PG* variables, DB_* variables, else the embedded server')
    .option('--data-dir <dir>', 'folder of the embedded server', '.onevault')
    .option('--migrations <dir>', 'folder of the migration files; default: ./migrations when it exists, else the platform migrations of the package', defaultMigrationsDir())
    .option('--create-database', 'create the target database when it does not exist')
    .option('--json', 'print the result as JSON on stdout')
    .showHelpAfterError()
    .exitOverride()
    .addHelpText(
      'after',
      '\nExit codes: 0 ok, 1 an operation failed, 2 invalid usage or configuration, 3 a check failed, 130 interrupted.\n\nExample:\n  $ onevault deploy',
    );
  registerCommands(program);
  return program;
}

/**
 * Runs the CLI with `argv` and sets the process exit code. Calls process.exit only on an
 * interrupting signal, after stopping the embedded server (see `installSignalHandlers`).
 */
export async function main(argv: readonly string[]): Promise<void> {
  const program = buildProgram();
  const removeSignalHandlers = installSignalHandlers();
  try {
    await program.parseAsync([...argv]);
  } catch (error) {
    process.exitCode = handleError(error, argv.includes('--json'));
  } finally {
    removeSignalHandlers();
  }
}

function handleError(error: unknown, json: boolean): number {
  if (error instanceof CommanderError) {
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return EXIT_OK;
    return EXIT_USAGE;
  }
  if (error instanceof OnevaultError) {
    if (json) process.stdout.write(`${JSON.stringify({ error }, jsonReplacer, 2)}\n`);
    else printError(error);
    return exitCodeFor(error.code);
  }
  process.stderr.write(`error INTERNAL_ERROR: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  return EXIT_FAILURE;
}

function readVersion(): string {
  // The compiled file is dist/src/cli/main.js, three folders below package.json.
  return (require('../../../package.json') as { version: string }).version;
}
