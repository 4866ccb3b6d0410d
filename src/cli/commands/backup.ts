import type { Command } from 'commander';

import { takeBackup, type BackupEvent, type BackupReport } from '../../backup/take-backup';
import { withDatabaseSession } from '../../connection/session';
import { OnevaultError } from '../../errors';
import { globalOptionsOf, sessionOptionsOf, type GlobalOptions } from '../context';
import { withInterruptSignal } from '../interrupt';
import { printJson, printProgress, printResult } from '../output';
import { addBeforeDeployHook } from './deploy';

interface BackupCommandOptions {
  readonly out?: string;
}

let deployHookAdded = false;

export function registerBackupCommand(program: Command): Command {
  addBackupOptionToDeploy(program);

  return program
    .command('backup')
    .description('write a full backup with pg_dump in custom format and verify it with pg_restore --list')
    .option('--out <file>', 'backup file to write (default: onevault-<database>-<UTC time>.dump in the working folder)')
    .addHelpText('after', '\nThe pg_dump used is /usr/lib/postgresql/<server major>/bin/pg_dump, else the first one on PATH of that major or later.\n\nExamples:\n  $ onevault backup\n  $ onevault backup --out /backups/one_vault-before-V001.dump\n  $ pg_restore --dbname=restored_copy /backups/one_vault-before-V001.dump')
    .action(async (options: BackupCommandOptions, self: Command) => {
      const global = globalOptionsOf(self);
      const report = await backupTarget(global, options.out);
      if (global.json) printJson(report);
      else renderBackupReport(report);
    });
}

/**
 * Declares `deploy --backup [file]` and registers the step that takes the backup before deploy
 * changes anything. A failed backup throws, which stops the deploy before it connects.
 */
function addBackupOptionToDeploy(program: Command): void {
  const deployCommand = program.commands.find((command) => command.name() === 'deploy');
  if (!deployCommand) return;
  deployCommand.option('--backup [file]', 'take a verified pg_dump backup first (to FILE, or the default name of onevault backup) and stop if it fails');

  // Hooks live in the deploy module, so one hook serves every program that is built.
  if (deployHookAdded) return;
  deployHookAdded = true;
  addBeforeDeployHook(async (command) => {
    const requested = (command.opts() as { backup?: string | boolean }).backup;
    if (requested === undefined || requested === false) return undefined;

    const global = globalOptionsOf(command);
    const report = await backupTarget(global, typeof requested === 'string' ? requested : undefined).catch((error: unknown) => {
      const reason = error instanceof Error ? error.message : String(error);
      throw new OnevaultError(error instanceof OnevaultError ? error.code : 'BACKUP_FAILED', `Deploy stopped before changing anything because the backup failed: ${reason}`, {
        hint: error instanceof OnevaultError ? error.hint : undefined,
        cause: error,
      });
    });
    if (!global.json) renderBackupReport(report, printProgress);
    return { backup: report };
  });
}

async function backupTarget(global: GlobalOptions, outFile: string | undefined): Promise<BackupReport> {
  return withInterruptSignal((signal) =>
    withDatabaseSession(sessionOptionsOf(global), (session) =>
      takeBackup(session.client, {
        config: session.config,
        outFile,
        signal,
        onEvent: global.json ? undefined : renderBackupEvent,
      }),
    ),
  );
}

function renderBackupEvent(event: BackupEvent): void {
  switch (event.type) {
    case 'tool-found':
      printProgress(`Using ${event.tool.path} (${event.tool.versionText})`);
      break;
    case 'dump-start':
      printProgress(`Dumping database ${event.database} to ${event.file} ...`);
      break;
    case 'verify-start':
      printProgress('Verifying the archive with pg_restore --list ...');
      break;
  }
}

/** Prints the backup's file, size, object count and SHA-256, one aligned line each. */
function renderBackupReport(report: BackupReport, print: (line: string) => void = printResult): void {
  print(`backup:   ${report.file}`);
  print(`database: ${report.database} (PostgreSQL ${report.serverVersion})`);
  print(`size:     ${report.sizeBytes} bytes`);
  print(`objects:  ${report.objectCount} archive entries, ${report.tableDataCount} of them table data (pg_restore --list)`);
  print(`sha256:   ${report.sha256}`);
  print(`pg_dump:  ${report.pgDump.path} (${report.pgDump.versionText})`);
}
