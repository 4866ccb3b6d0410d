import type { Command } from 'commander';

import { createMigrationPair } from '../../new/new-migration';
import { globalOptionsOf } from '../context';
import { printJson, printResult } from '../output';

export function registerNewCommand(program: Command): Command {
  return program
    .command('new')
    .description('write the next migration pair from a template that already follows the three pillars')
    .argument('<name>', 'lower-case snake_case name, for example maintenance_window')
    .option('--title <text>', 'title for the header and NOTICE lines (default: from the name)')
    .addHelpText('after', '\nExample:\n  $ onevault new maintenance_window --migrations ./migrations\n  $ onevault lint ./migrations && onevault verify --migrations ./migrations')
    .action(async (name: string, options: { readonly title?: string }, self: Command) => {
      const global = globalOptionsOf(self);
      const result = await createMigrationPair({ migrationsDir: global.migrations, name, title: options.title });
      if (global.json) {
        printJson(result);
        return;
      }
      printResult(`created ${result.forwardPath}`);
      printResult(`created ${result.rollbackPath}`);
      printResult(`Next: edit both files, then run onevault lint and onevault verify on ${global.migrations}.`);
    });
}
