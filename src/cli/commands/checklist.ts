import type { Command } from 'commander';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

import { buildChecklist } from '../../checklist/build-checklist';
import { renderChecklistMarkdown } from '../../checklist/render-checklist';
import { withDatabaseSession } from '../../connection/session';
import type { DeploymentTestEvent } from '../../deployment-tests/check-result';
import { globalOptionsOf, sessionOptionsOf } from '../context';
import { EXIT_CHECK_FAILED } from '../exit-codes';
import { withInterruptSignal } from '../interrupt';
import { printJson, printProgress, printResult } from '../output';

interface ChecklistCommandOptions {
  readonly out?: string;
  readonly backup?: string;
}

export function registerChecklistCommand(program: Command): Command {
  return program
    .command('checklist')
    .description('write the deployment checklist as Markdown: items the tool can check carry their evidence, the rest stay open for a person; exit 3 when a checked item failed')
    .option('--out <file>', 'write the Markdown to FILE instead of stdout')
    .option('--backup <file>', 'backup file taken before the deployment, to verify with pg_restore --list')
    .addHelpText('after', '\nThe checklist runs the deployment test suite (scratch copies included) and the health checks, so it takes as long as onevault test.\n\nExamples:\n  $ onevault checklist --out deployment_checklist_one_vault.md\n  $ onevault checklist --backup one_vault-before-V001.dump --json')
    .action(async (options: ChecklistCommandOptions, self: Command) => {
      const global = globalOptionsOf(self);
      const checklist = await withInterruptSignal((signal) =>
        withDatabaseSession(sessionOptionsOf(global), async (session) => {
          // CREATE DATABASE ... TEMPLATE needs a target without sessions, so the checklist opens its own.
          await session.client.end();
          return buildChecklist({ config: session.config, migrationsDir: global.migrations, backupFile: options.backup, signal, onEvent: renderProgress });
        }),
      );

      if (global.json) {
        printJson(checklist);
      } else if (options.out) {
        await fs.mkdir(path.dirname(path.resolve(options.out)), { recursive: true });
        await fs.writeFile(options.out, renderChecklistMarkdown(checklist));
        printResult(`Wrote ${options.out}: ${checklist.summary.verified} items verified, ${checklist.summary.failed} failed, ${checklist.summary.open} open for a person.`);
      } else {
        process.stdout.write(renderChecklistMarkdown(checklist));
      }
      if (checklist.summary.failed > 0) process.exitCode = EXIT_CHECK_FAILED;
    });
}

function renderProgress(event: DeploymentTestEvent): void {
  if (event.type === 'group-start') printProgress(`Checking ${event.group} ...`);
  if (event.type === 'scratch-created') printProgress(`  created scratch copy ${event.database} (${event.method})`);
  if (event.type === 'scratch-dropped') printProgress(`  dropped scratch copy ${event.database}`);
}
