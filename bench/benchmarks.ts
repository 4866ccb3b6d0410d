import { constantFunctionBenchmark } from './constant-function-bench';
import type { Benchmark } from './context';
import { deployBenchmark } from './deploy-bench';
import { fingerprintBenchmark } from './fingerprint-bench';
import { memoryBenchmark } from './memory-bench';
import { proofBenchmark } from './proof-bench';
import { registrationBenchmark } from './registration-bench';
import { scaleBenchmark } from './scale-bench';
import { testSuiteBenchmark } from './test-suite-bench';

/** Every benchmark in the order `bench` runs them. */
export const BENCHMARKS: readonly Benchmark[] = [
  deployBenchmark,
  proofBenchmark,
  fingerprintBenchmark,
  testSuiteBenchmark,
  registrationBenchmark,
  scaleBenchmark,
  constantFunctionBenchmark,
  memoryBenchmark,
];
