import { formatTarget, type BenchmarkResult, type Figure } from './figures';

const HEADERS = ['benchmark', 'figure', 'median', 'min', 'max', 'unit', 'target', 'met'];

/** Renders every figure as one row of a plain-text table, with skipped benchmarks listed below it. */
export function renderTable(results: readonly BenchmarkResult[]): string {
  const rows = results.flatMap((result) => result.figures.map(rowOf));
  const widths = HEADERS.map((header, column) => Math.max(header.length, ...rows.map((row) => row[column].length)));
  const line = (cells: readonly string[]): string =>
    cells.map((cell, column) => (column >= 2 && column <= 4 ? cell.padStart(widths[column]) : cell.padEnd(widths[column]))).join('  ').trimEnd();

  const lines = [line(HEADERS), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)];
  for (const result of results) {
    if (result.skipped !== undefined) lines.push(`${result.id}: not run: ${result.skipped}`);
  }
  return lines.join('\n');
}

function rowOf(figure: Figure): string[] {
  let met = '';
  if (figure.met !== undefined) met = figure.met ? 'yes' : 'NO';
  return [figure.benchmark, figure.name, formatNumber(figure.median), formatNumber(figure.min), formatNumber(figure.max), figure.unit, formatTarget(figure.target, figure.unit), met];
}

/** Three significant digits below 100, whole numbers above. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 100) return value.toFixed(0);
  return value.toPrecision(3);
}
