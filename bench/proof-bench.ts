import type { BenchContext, Benchmark } from './context';
import { makeFigure, type BenchmarkResult } from './figures';
import { expectSuccess, hasCliCommand, runCli } from './run-program';
import { pairwiseRatios, rotate } from './statistics';

/** Start of the scratch database names that `onevault verify` creates for the benchmark. */
export const VERIFY_SCRATCH_PREFIX = 'benchw_verify_';

interface VerifyJson {
  readonly status: string;
  readonly durationMs: number;
  readonly migrations: readonly { readonly version: string }[];
  readonly fingerprints: { readonly count: number; readonly totalMs: number; readonly maxMs: number };
}

/**
 * Benchmark 2: `onevault verify` over every migration against one `onevault deploy` of every
 * migration into a fresh database, both as CLI processes in the same run.
 */
export const proofBenchmark: Benchmark = {
  id: 'proof',
  title: 'onevault verify over all migrations vs one deploy',
  run: runProofBenchmark,
};

async function runProofBenchmark(context: BenchContext): Promise<BenchmarkResult> {
  if (!(await hasCliCommand(context.root, 'verify'))) {
    return { id: 'proof', title: proofBenchmark.title, figures: [], notes: [], skipped: 'the built CLI has no verify command' };
  }

  const baselineRoot = context.baselineRoot;
  const steps = baselineRoot === undefined ? (['deploy', 'verify'] as const) : (['deploy', 'verify', 'baseline verify'] as const);
  const deployMs: number[] = [];
  const verifyMs: number[] = [];
  const baselineVerifyMs: number[] = [];
  const verifyCpuMs: number[] = [];
  const baselineVerifyCpuMs: number[] = [];
  const fingerprintShare: number[] = [];
  const fingerprintCount: number[] = [];
  let proven = '';

  for (let run = 0; run < context.runs; run += 1) {
    for (const step of rotate(steps, run)) {
      const database = await context.server.createDatabase(`proof_${step.replace(' ', '_')}`);
      try {
        if (step === 'deploy') {
          const deployed = expectSuccess(await runCli(context.root, ['deploy', '--database-url', context.server.urlFor(database)]), 'onevault deploy');
          deployMs.push(deployed.wallMs);
        } else {
          const root = step === 'verify' ? context.root : (baselineRoot as string);
          const verified = expectSuccess(
            await runCli(root, ['verify', '--json', '--scratch-prefix', VERIFY_SCRATCH_PREFIX, '--database-url', context.server.urlFor(database)]),
            'onevault verify',
          );
          const report = JSON.parse(verified.stdout) as VerifyJson;
          if (report.status !== 'PASSED') throw new Error(`onevault verify (${root}) reported ${report.status}`);
          if (step === 'baseline verify') {
            baselineVerifyMs.push(verified.wallMs);
            baselineVerifyCpuMs.push(verified.cpuMs);
            continue;
          }
          verifyMs.push(verified.wallMs);
          verifyCpuMs.push(verified.cpuMs);
          fingerprintShare.push((100 * report.fingerprints.totalMs) / verified.wallMs);
          fingerprintCount.push(report.fingerprints.count);
          proven = report.migrations.map((migration) => migration.version).join(', ');
        }
      } finally {
        await context.server.dropDatabase(database);
      }
    }
    context.log(`proof: run ${run + 1}/${context.runs} done`);
  }

  const figures = [
    makeFigure('proof', 'onevault deploy (CLI process)', 'ms', deployMs),
    makeFigure('proof', 'onevault verify (CLI process)', 'ms', verifyMs),
    makeFigure('proof', 'verify / deploy', 'x', pairwiseRatios(verifyMs, deployMs), { target: { kind: 'at most', value: 6 } }),
    makeFigure('proof', 'share of verify spent in fingerprints', '%', fingerprintShare),
    makeFigure('proof', 'fingerprints taken per verify', 'count', fingerprintCount),
    makeFigure('proof', 'verify CLI process CPU time', 'ms', verifyCpuMs),
  ];
  if (baselineRoot !== undefined) {
    figures.push(
      makeFigure('proof', 'baseline verify (CLI process)', 'ms', baselineVerifyMs),
      makeFigure('proof', 'baseline verify / deploy', 'x', pairwiseRatios(baselineVerifyMs, deployMs)),
      makeFigure('proof', 'verify / baseline verify', 'x', pairwiseRatios(verifyMs, baselineVerifyMs)),
      makeFigure('proof', 'baseline verify CLI process CPU time', 'ms', baselineVerifyCpuMs),
      makeFigure('proof', 'verify CPU time / baseline verify CPU time', 'x', pairwiseRatios(verifyCpuMs, baselineVerifyCpuMs)),
    );
  }

  return {
    id: 'proof',
    title: proofBenchmark.title,
    figures,
    notes: [
      `Migrations proven: ${proven}. Each proof runs six steps per migration (deploy, redeploy, redeploy as psql, rollback, rollback again, deploy after rollback) in a scratch database that verify creates and drops.`,
      'Both are whole CLI processes against a fresh database each; verify never changes its target. The fingerprint time is the total that verify reports in --json.',
      ...(baselineRoot === undefined ? [] : [`Baseline: the build in ${baselineRoot}, run in the same rotation.`]),
    ],
  };
}
