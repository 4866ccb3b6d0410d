/** Median, minimum and maximum of a list of samples. */
export interface Summary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

/** Summarises samples; the median of an even count is the mean of the two middle values. Throws on an empty list. */
export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new Error('summarize needs at least one sample');

  const sorted = [...samples].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
  return { median, min: sorted[0], max: sorted[sorted.length - 1] };
}

/** Divides sample i of `numerators` by sample i of `denominators`: one ratio per run. */
export function pairwiseRatios(numerators: readonly number[], denominators: readonly number[]): number[] {
  if (numerators.length !== denominators.length) {
    throw new Error(`pairwiseRatios needs lists of one length, got ${numerators.length} and ${denominators.length}`);
  }
  return numerators.map((value, index) => value / denominators[index]);
}

/** Returns the run order of `items` for run `runIndex`, rotated so that no item always goes first. */
export function rotate<T>(items: readonly T[], runIndex: number): T[] {
  const shift = runIndex % items.length;
  return [...items.slice(shift), ...items.slice(0, shift)];
}

/** Milliseconds elapsed since `startedNs`, a value of `process.hrtime.bigint()`. */
export function elapsedMs(startedNs: bigint): number {
  return Number(process.hrtime.bigint() - startedNs) / 1e6;
}
