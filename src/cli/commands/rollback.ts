import type { Command } from 'commander';

import { rollback } from '../../apply/rollback';
import { withDatabaseSession } from '../../connection/session';
import { loadMigrations } from '../../migrations/catalog';
import { confirmOrThrow } from '../confirm';
import { globalOptionsOf, sessionOptionsOf } from '../context';
import { withInterruptSignal } from '../interrupt';
import { printJson } from '../output';
import { addApplyOptions, parseApplyOptions, type ApplyCommandOptions } from './apply-options';
import { renderApplyEvent, renderApplyReport } from './apply-render';
import { throwIfFailed } from './report-error';

interface RollbackCommandOptions extends ApplyCommandOptions {
  readonly all?: boolean;
  readonly force?: boolean;
  readonly yes?: boolean;
}

export function registerRollbackCommand(program: Command): Command {
  const command = program
    .command('rollback')
    .description('run rollback files in reverse version order: the latest applied migration, everything after --to, or --all')
    .option('--to <version>', 'roll back every migration after this version; the version itself stays applied')
    .option('--all', 'roll back every applied migration, the platform foundation included')
    .option('--force', 'back up and remove rows that the migrations did not create, where the rollback would refuse')
    .option('-y, --yes', 'do not ask for confirmation (required when stdin is not a terminal)')
    .addHelpText('after', '\nExamples:\n  $ onevault rollback            # the latest migration, after a confirmation\n  $ onevault rollback --to V000 --yes\n  $ onevault rollback --all --force --yes');
  addApplyOptions(command);

  command.action(async (options: RollbackCommandOptions, self: Command) => {
    const global = globalOptionsOf(self);
    const parsed = parseApplyOptions(options);
    // A broken migrations folder is reported before any connection is made.
    await loadMigrations(global.migrations);
    let scope = 'the latest applied migration';
    if (options.all) scope = 'every applied migration';
    else if (options.to) scope = `every migration after ${options.to}`;
    await confirmOrThrow({
      yes: options.yes,
      action: 'A rollback removes objects and rows',
      question: `Roll back ${scope}${options.force ? ' with --force' : ''}? Removed rows are backed up first.`,
    });

    const report = await withInterruptSignal((signal) =>
      withDatabaseSession(sessionOptionsOf(global), (session) =>
        rollback(session.client, {
          ...parsed,
          all: options.all,
          force: options.force,
          migrationsDir: global.migrations,
          signal,
          cancelConfig: session.config,
          onEvent: global.json ? undefined : renderApplyEvent,
        }),
      ),
    );

    if (global.json) printJson(report);
    else renderApplyReport(report);
    if (report.error) throwIfFailed(report.error, global.json === true);
  });
  return command;
}
