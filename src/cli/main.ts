import { Command, CommanderError } from 'commander';

import { OnevaultError, postgresFieldsOf } from '../errors';
import { registerCommands } from './commands';
import { printError } from './commands/report-error';
import { defaultMigrationsDir } from './context';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, exitCodeFor } from './exit-codes';
import { installSignalHandlers } from './interrupt';
import { jsonReplacer } from './output';

/**
 * Builds the command-line program. Without `argv` every command is registered; with it, only the
 * command that `argv` requests, when it names a known one (see `registerCommands`).
 */
export function buildProgram(argv?: readonly string[]): Command {
  const program = new Command();
  program
    .name('onevault')
    .description('Deploy, roll back and prove the migrations of the OneVault Data Vault 2.0 platform on PostgreSQL.')
    .version(readVersion())
    .option('--database-url <url>', 'PostgreSQL URL of the target database; else DATABASE_URL, PG* variables, DB_* variables, else the embedded server')
    .option('--data-dir <dir>', 'folder of the embedded server', '.onevault')
    .option('--migrations <dir>', 'folder of the migration files; default: ./migrations when it exists, else the platform migrations of the package', defaultMigrationsDir())
    .option('--create-database', 'create the target database when it does not exist')
    .option('--create-os-user', 'as root, create the postgres OS user that runs the embedded server when it is missing (this changes the host)')
    .option('--json', 'print the result as JSON on stdout')
    .showHelpAfterError('(add --help for the options and an example)')
    .exitOverride()
    .addHelpText(
      'after',
      '\nExit codes: 0 ok, 1 an operation failed, 2 invalid usage or configuration, 3 a check failed, 130 interrupted.\n\nExample:\n  $ onevault deploy',
    );
  registerCommands(program, argv === undefined ? undefined : requestedCommandOf(program, argv));
  return program;
}

/**
 * Returns the first operand of `argv` (node, script, then arguments) after the global options,
 * which names the command, or undefined when there is none or an option is not a global one.
 */
function requestedCommandOf(program: Command, argv: readonly string[]): string | undefined {
  const args = argv.slice(2);
  for (let index = 0; index < args.length; index += 1) {
    const arg = args[index];
    if (!arg.startsWith('-')) return arg;

    const option = program.options.find((candidate) => candidate.long === arg.split('=')[0] || candidate.short === arg);
    if (option === undefined) return undefined;
    // An option that takes a value consumes the next argument unless it is written --name=value.
    if ((option.required || option.optional) && !arg.includes('=')) index += 1;
  }
  return undefined;
}

/**
 * Runs the CLI with `argv` and sets the process exit code. Calls process.exit only on an
 * interrupting signal, after stopping the embedded server (see `installSignalHandlers`).
 */
export async function main(argv: readonly string[]): Promise<void> {
  const program = buildProgram(argv);
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
    // Commander has printed its message to stderr already, and JSON callers get it on stdout too.
    if (json) printErrorJson(new OnevaultError('INVALID_ARGUMENT', error.message.replace(/^error: /, ''), { hint: 'Run onevault --help, or onevault COMMAND --help, for the options.' }));
    return EXIT_USAGE;
  }

  const onevaultError = error instanceof OnevaultError ? error : wrapUnexpected(error);
  if (json) printErrorJson(onevaultError);
  else printError(onevaultError);
  if (onevaultError.code === 'INTERNAL_ERROR' && !json && error instanceof Error && error.stack) {
    process.stderr.write(`${error.stack}\n`);
  }
  return exitCodeFor(onevaultError.code);
}

/** Turns an error that no layer wrapped into an `OnevaultError`, keeping PostgreSQL's fields. */
function wrapUnexpected(error: unknown): OnevaultError {
  const fields = postgresFieldsOf(error);
  const message = error instanceof Error ? error.message : String(error);
  if (fields?.sqlstate === '42501') {
    return new OnevaultError('INSUFFICIENT_PRIVILEGE', `The database user lacks a privilege: ${message}.`, {
      hint: 'Run the command as the database owner, or grant the privilege named above (for example GRANT SELECT ON util.migration_log TO the user).',
      cause: error,
      postgres: fields,
    });
  }
  if (fields) {
    return new OnevaultError('INTERNAL_ERROR', `The server reported an unexpected error (SQLSTATE ${fields.sqlstate}): ${message}.`, { cause: error, postgres: fields });
  }
  return new OnevaultError('INTERNAL_ERROR', message, { cause: error });
}

function printErrorJson(error: OnevaultError): void {
  process.stdout.write(`${JSON.stringify({ error }, jsonReplacer, 2)}\n`);
}

function readVersion(): string {
  // The compiled file is dist/src/cli/main.js, three folders below package.json.
  return (require('../../../package.json') as { version: string }).version;
}
