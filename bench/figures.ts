import { summarize } from './statistics';

/** Unit of a figure, as printed in the table. */
export type Unit = 'ms' | 'x' | 'calls/s' | '%' | 'MiB' | 'count';

/** Goal that the median of a figure is checked against. */
export type Target =
  | { readonly kind: 'at most'; readonly value: number }
  | { readonly kind: 'at least'; readonly value: number }
  | { readonly kind: 'between'; readonly low: number; readonly high: number };

/** One measured quantity: every sample plus their median, minimum and maximum. */
export interface Figure {
  /** Benchmark id, for example `deploy`. */
  readonly benchmark: string;
  readonly name: string;
  readonly unit: Unit;
  readonly samples: readonly number[];
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly target?: Target;
  /** Whether the median meets the target; absent when there is no target. */
  readonly met?: boolean;
  readonly note?: string;
}

/** Builds a figure from its samples and checks the median against the target, if any. */
export function makeFigure(
  benchmark: string,
  name: string,
  unit: Unit,
  samples: readonly number[],
  extra: { readonly target?: Target; readonly note?: string } = {},
): Figure {
  const summary = summarize(samples);
  const met = extra.target === undefined ? undefined : meetsTarget(summary.median, extra.target);
  return { benchmark, name, unit, samples: [...samples], ...summary, ...extra, met };
}

function meetsTarget(value: number, target: Target): boolean {
  switch (target.kind) {
    case 'at most':
      return value <= target.value;
    case 'at least':
      return value >= target.value;
    case 'between':
      return value >= target.low && value <= target.high;
  }
}

/** Formats a target for the table: `<= 1.5 x`, `>= 80 %`, `0.95..1.05 x`. */
export function formatTarget(target: Target | undefined, unit: Unit): string {
  if (target === undefined) return '';
  const suffix = unit === 'x' ? 'x' : ` ${unit}`;
  switch (target.kind) {
    case 'at most':
      return `<= ${target.value}${suffix}`;
    case 'at least':
      return `>= ${target.value}${suffix}`;
    case 'between':
      return `${target.low}..${target.high}${suffix}`;
  }
}

/** Result of one benchmark: its figures, or why it did not run. */
export interface BenchmarkResult {
  readonly id: string;
  readonly title: string;
  readonly figures: readonly Figure[];
  /** Facts about the run that are not numbers, for example how a tool was invoked. */
  readonly notes: readonly string[];
  /** Set when the benchmark could not run; `figures` is then empty. */
  readonly skipped?: string;
}
