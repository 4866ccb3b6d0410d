import { OnevaultError } from '../errors';

/** Writes a line of results to stdout. */
export function printResult(line = ''): void {
  process.stdout.write(`${line}\n`);
}

/** Writes a line of progress or diagnostics to stderr, so that stdout stays parseable. */
export function printProgress(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Writes a report as indented JSON to stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, jsonReplacer, 2)}\n`);
}

/** Serialises errors with their code and hint, which JSON.stringify would drop. */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (value instanceof OnevaultError) {
    return { code: value.code, message: value.message, hint: value.hint, version: value.version, postgres: value.postgres };
  }
  if (value instanceof Error) return { message: value.message };
  return value;
}

const useColour = process.stdout.isTTY === true && process.env.NO_COLOR === undefined;

/** Colours text green, red or yellow on a terminal; plain text elsewhere and under NO_COLOR. */
export const colour = {
  green: (text: string): string => (useColour ? `\u001b[32m${text}\u001b[0m` : text),
  red: (text: string): string => (useColour ? `\u001b[31m${text}\u001b[0m` : text),
  yellow: (text: string): string => (useColour ? `\u001b[33m${text}\u001b[0m` : text),
};

/** Formats a duration in milliseconds for humans: `850 ms`, `2.4 s`. */
export function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** Pads a label with dots to a column, Sqitch-style: `V001 system_operations_tenant ....`. */
export function dotted(label: string, width = 48): string {
  return label.length >= width ? `${label} ` : `${label} ${'.'.repeat(width - label.length - 1)} `;
}
