import type { Command } from 'commander';

import { OnevaultError } from '../../errors';
import { lintPaths } from '../../lint/lint';
import type { LintReport } from '../../lint/report';
import { EXIT_CHECK_FAILED, EXIT_OK, exitCodeFor } from '../exit-codes';
import { colour, jsonReplacer, printJson, printResult } from '../output';
import { printError } from './report-error';

const DEFAULT_LINT_PATH = 'migrations';

/**
 * Registers `onevault lint [paths...]`: checks migration files without a database and prints one
 * line per finding. Exit code 0 when clean, 3 on findings, 2 when a path cannot be read.
 */
export function registerLintCommand(program: Command): Command {
  const command = program
    .command('lint')
    .argument('[paths...]', 'migration files or folders (their *.sql files); default: the --migrations folder, else migrations/')
    .description('check migration files for non-repeatable, breaking, insecure or non-atomic SQL, without a database')
    .addHelpText(
      'after',
      '\nWaive a finding with a comment on the line above the statement:\n  -- onevault:allow OV301 <why the rule does not apply>\n\nExamples:\n  $ onevault lint\n  $ onevault lint migrations/V001__create_system_operations_tenant.sql --json',
    );

  // The main program declares --json for every command; a program without it still gets one here.
  const hasGlobalJson = program.options.some((option) => option.long === '--json');
  if (!hasGlobalJson) command.option('--json', 'print the report as JSON on stdout');

  command.action(async (paths: string[], _options: unknown, self: Command) => {
    const options = self.optsWithGlobals() as { json?: boolean; migrations?: string };
    const json = options.json === true;
    const targets = paths.length > 0 ? paths : [options.migrations ?? DEFAULT_LINT_PATH];

    let report: LintReport;
    try {
      report = await lintPaths(targets);
    } catch (error) {
      if (!(error instanceof OnevaultError)) throw error;
      if (json) process.stdout.write(`${JSON.stringify({ error }, jsonReplacer, 2)}\n`);
      else printError(error);
      process.exitCode = exitCodeFor(error.code);
      return;
    }

    if (json) printJson(report);
    else printReport(report);
    process.exitCode = report.summary.findings > 0 ? EXIT_CHECK_FAILED : EXIT_OK;
  });

  return command;
}

/** Prints `path:line:col  CODE  message`, aligned, with the fix below each finding, then a summary line. */
function printReport(report: LintReport): void {
  const rows = report.files.flatMap((file) =>
    file.findings.map((finding) => ({ finding, location: `${file.path}:${finding.line}:${finding.column}` })),
  );
  const width = Math.max(0, ...rows.map((row) => row.location.length));

  for (const { finding, location } of rows) {
    const code = finding.severity === 'error' ? colour.red(finding.code) : colour.yellow(finding.code);
    printResult(`${location.padEnd(width)}  ${code}  ${finding.message}`);
    printResult(`${' '.repeat(width)}  fix:   ${finding.fix}`);
  }

  // Waivers are listed with their reasons, so that a reviewer can read every rule that was set aside.
  const waivers = report.files.flatMap((file) => file.waived.map((waiver) => ({ waiver, location: `${file.path}:${waiver.line}` })));
  if (waivers.length > 0) {
    if (rows.length > 0) printResult('');
    const waiverWidth = Math.max(...waivers.map((entry) => entry.location.length));
    for (const { waiver, location } of waivers) printResult(`${location.padEnd(waiverWidth)}  ${waiver.code}  waived: ${waiver.reason}`);
  }

  const errors = rows.filter((row) => row.finding.severity === 'error').length;
  const warnings = rows.length - errors;
  const { files, findings, waived } = report.summary;
  const counts = `${plural(files, 'file')}, ${plural(findings, 'finding')} (${plural(errors, 'error')}, ${plural(warnings, 'warning')}), ${waived} waived`;
  if (rows.length > 0) printResult('');
  printResult(findings === 0 ? colour.green(`lint ok: ${counts}`) : `lint found problems: ${counts}`);
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
