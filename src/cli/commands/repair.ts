import type { Command } from 'commander';

import { withDatabaseSession } from '../../connection/session';
import { repairChecksums, type RepairReport } from '../../repair/repair';
import { confirmOrThrow } from '../confirm';
import { globalOptionsOf, sessionOptionsOf } from '../context';
import { printJson, printResult } from '../output';

interface RepairCommandOptions {
  readonly yes?: boolean;
  readonly reason?: string;
}

export function registerRepairCommand(program: Command): Command {
  return program
    .command('repair')
    .description('re-record the checksum of applied migration files that changed, after a confirmation; the repair is audited')
    .option('--reason <text>', 'why the files changed; kept in the migration log and the audit event')
    .option('-y, --yes', 'do not ask for confirmation (required when stdin is not a terminal)')
    .addHelpText('after', '\nExample:\n  $ onevault repair --reason "comment typo fixed in V001" --yes')
    .action(async (options: RepairCommandOptions, self: Command) => {
      const global = globalOptionsOf(self);
      const report = await withDatabaseSession(sessionOptionsOf(global), async (session) => {
        const preview = await repairChecksums(session.client, { migrationsDir: global.migrations, dryRun: true });
        if (preview.repairs.length === 0) return preview;
        if (!global.json) renderRepairs(preview, 'changed since they were applied');
        await confirmOrThrow({
          yes: options.yes,
          action: `Repair would re-record ${preview.repairs.length} checksum(s)`,
          question: 'Accept the changed files as applied? The migrations are not run again.',
        });
        return repairChecksums(session.client, { migrationsDir: global.migrations, reason: options.reason, confirmation: options.yes ? '--yes' : 'typed yes' });
      });

      if (global.json) printJson(report);
      else if (report.repairs.length === 0) printResult('Nothing to repair: every applied file matches its recorded checksum.');
      else printResult(`repair: ${report.repairs.length} checksum(s) re-recorded and audited.`);
    });
}

function renderRepairs(report: RepairReport, description: string): void {
  printResult(`${report.repairs.length} applied file(s) ${description}:`);
  for (const repair of report.repairs) printResult(`  ${repair.version} ${repair.fileName}: ${repair.recordedChecksum} -> ${repair.fileChecksum}`);
}
