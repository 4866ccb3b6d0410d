import * as path from 'node:path';

import type { BenchServer } from './bench-server';
import type { BenchmarkResult } from './figures';
import type { Prerequisite } from './prerequisites';

/** Inputs of every benchmark: the project folders, the server and the number of runs. */
export interface BenchContext {
  /** Repository root: the folder of package.json. */
  readonly root: string;
  readonly migrationsDir: string;
  readonly server: BenchServer;
  /** Number of measured runs behind every figure. */
  readonly runs: number;
  /** Smaller data sets for a smoke run; the figures are then not comparable with a full run. */
  readonly quick: boolean;
  /** Keep the prepared scale template database after the run, for repeated runs. */
  readonly keepTemplates: boolean;
  /**
   * Root of another built checkout of onevault (for example the commit before a fix). When set,
   * the deploy, proof and fingerprint benchmarks measure it too, in the same runs, and report
   * ratios to it.
   */
  readonly baselineRoot?: string;
  /** Writes a progress line to stderr. */
  readonly log: (line: string) => void;
}

/** One benchmark: its id for `--only`, its title, and the function that measures it. */
export interface Benchmark {
  readonly id: string;
  readonly title: string;
  /** Programs to install before any benchmark runs. */
  readonly prerequisites?: readonly Prerequisite[];
  readonly run: (context: BenchContext) => Promise<BenchmarkResult>;
}

/** The compiled file is dist/bench/<name>.js, two folders below the repository root. */
export const REPOSITORY_ROOT = path.resolve(__dirname, '..', '..');
