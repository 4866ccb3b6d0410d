import { deploy } from '../src/apply/deploy';
import type { BenchContext, Benchmark } from './context';
import { makeFigure, type BenchmarkResult, type Figure } from './figures';
import { VERIFY_SCRATCH_PREFIX } from './proof-bench';
import { expectSuccess, hasCliCommand, runCli } from './run-program';

type MeasuredCommand = 'deploy' | 'verify' | 'test';

/** Benchmark 8: peak RSS of the CLI process for deploy, verify and test. */
export const memoryBenchmark: Benchmark = {
  id: 'memory',
  title: 'Peak RSS of the CLI process',
  run: runMemoryBenchmark,
};

async function runMemoryBenchmark(context: BenchContext): Promise<BenchmarkResult> {
  const figures: Figure[] = [];
  const notes: string[] = ['Peak RSS is getrusage ru_maxrss of the node process that runs bin/onevault.js, written by a probe preloaded with --require.'];

  for (const command of ['deploy', 'verify', 'test'] as const) {
    if (!(await hasCliCommand(context.root, command))) {
      notes.push(`${command}: not measured, the built CLI has no ${command} command.`);
      continue;
    }
    const samples: number[] = [];
    for (let run = 0; run < context.runs; run += 1) samples.push(await measurePeakRss(context, command));
    figures.push(makeFigure('memory', `onevault ${command} peak RSS`, 'MiB', samples));
    context.log(`memory: ${command} measured`);
  }
  return { id: 'memory', title: memoryBenchmark.title, figures, notes };
}

async function measurePeakRss(context: BenchContext, command: MeasuredCommand): Promise<number> {
  const database = await context.server.createDatabase(`memory_${command}`);
  try {
    const url = context.server.urlFor(database);
    if (command === 'test') {
      await context.server.withClient(database, async (client) => {
        const report = await deploy(client, { migrationsDir: context.migrationsDir });
        if (report.error) throw report.error;
      });
    }
    const args = command === 'verify' ? ['verify', '--scratch-prefix', VERIFY_SCRATCH_PREFIX, '--database-url', url] : [command, '--database-url', url];
    return expectSuccess(await runCli(context.root, args), `onevault ${command}`).peakRssMiB;
  } finally {
    await context.server.dropDatabase(database);
  }
}
