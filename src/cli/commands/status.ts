import type { Command } from 'commander';

import { withDatabaseSession } from '../../connection/session';
import { getStatus } from '../../status/status';
import { globalOptionsOf, sessionOptionsOf } from '../context';
import { EXIT_FAILURE } from '../exit-codes';
import { printJson, printProgress, printResult } from '../output';

export function registerStatusCommand(program: Command): Command {
  return program
    .command('status')
    .description('list every migration, applied or pending, when and by whom, and whether its file still matches')
    .addHelpText('after', '\nExample:\n  $ onevault status --json')
    .action(async (_options: unknown, self: Command) => {
      const global = globalOptionsOf(self);
      const report = await withDatabaseSession(sessionOptionsOf(global), (session) => getStatus(session.client, global.migrations));

      if (global.json) {
        printJson(report);
      } else {
        const rows = report.migrations.map((migration) => [
          migration.version,
          migration.name,
          migration.state,
          migration.lastRunAt ? migration.lastRunAt.toISOString() : '-',
          migration.lastRunBy ? `${migration.lastRunBy} via ${migration.lastRunVia}` : '-',
          migration.checksum,
          String(migration.failedRuns),
        ]);
        printTable(['version', 'name', 'state', 'last run', 'by', 'checksum', 'failed runs'], rows);
        for (const version of report.unknownApplied) {
          printProgress(`error MIGRATION_FILE_MISSING: ${version} is applied in the database but has no files in ${global.migrations}.`);
        }
        for (const migration of report.migrations.filter((candidate) => candidate.checksum === 'mismatch')) {
          printProgress(`error CHECKSUM_MISMATCH: ${migration.version} ${migration.name} changed after it was applied. Deploy refuses until the file is restored or onevault repair records it.`);
        }
      }

      const drift = report.migrations.some((migration) => migration.checksum === 'mismatch') || report.unknownApplied.length > 0;
      if (drift) process.exitCode = EXIT_FAILURE;
    });
}

/** Prints rows as left-aligned columns under a header. */
export function printTable(header: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
  const format = (row: readonly string[]): string => row.map((cell, column) => cell.padEnd(widths[column])).join('  ').trimEnd();
  printResult(format(header));
  for (const row of rows) printResult(format(row));
}
