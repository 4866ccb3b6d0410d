import type { Command } from 'commander';

import { deploy } from '../../apply/deploy';
import { withDatabaseSession } from '../../connection/session';
import { loadMigrations } from '../../migrations/catalog';
import { globalOptionsOf, sessionOptionsOf } from '../context';
import { EXIT_FAILURE } from '../exit-codes';
import { withInterruptSignal } from '../interrupt';
import { printJson } from '../output';
import { addApplyOptions, parseApplyOptions, type ApplyCommandOptions } from './apply-options';
import { renderApplyEvent, renderApplyReport } from './apply-render';
import { throwIfFailed } from './report-error';

/**
 * Hook run before deploy changes anything, for example a verified backup (`--backup`). What it
 * returns is added to deploy's JSON report.
 */
export type BeforeDeployHook = (command: Command) => Promise<Readonly<Record<string, unknown>> | void>;
const beforeDeployHooks: BeforeDeployHook[] = [];

/** Adds a step that runs before deploy changes anything; a throwing step stops the deploy. */
export function addBeforeDeployHook(hook: BeforeDeployHook): void {
  beforeDeployHooks.push(hook);
}

export function registerDeployCommand(program: Command): Command {
  const command = program
    .command('deploy')
    .description('apply the pending migrations in version order, each all-or-nothing')
    .option('--to <version>', 'stop after this version, for example V000')
    .option('--reapply', 'run applied migrations again as well, so that each converges (repairs half-created or changed objects)')
    .addHelpText('after', '\nExamples:\n  $ onevault deploy\n  $ onevault deploy --reapply\n  $ onevault deploy --to V000 --database-url postgres://postgres@127.0.0.1:5432/one_vault');
  addApplyOptions(command);

  command.action(async (options: ApplyCommandOptions & { readonly reapply?: boolean }, self: Command) => {
    const global = globalOptionsOf(self);
    const parsed = parseApplyOptions(options);
    // A broken migrations folder is reported before any connection is made.
    await loadMigrations(global.migrations);
    const hookReports: Record<string, unknown> = {};
    for (const hook of beforeDeployHooks) Object.assign(hookReports, await hook(self));

    const report = await withInterruptSignal((signal) =>
      withDatabaseSession(sessionOptionsOf(global), (session) =>
        deploy(session.client, {
          ...parsed,
          reapply: options.reapply,
          migrationsDir: global.migrations,
          signal,
          cancelConfig: session.config,
          onEvent: global.json ? undefined : renderApplyEvent,
        }),
      ),
    );

    if (global.json) printJson({ ...hookReports, ...report });
    else renderApplyReport(report);
    if (report.error) {
      process.exitCode = EXIT_FAILURE;
      throwIfFailed(report.error, global.json === true);
    }
  });
  return command;
}
