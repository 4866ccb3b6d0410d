import { rmSync } from 'node:fs';

import { deploy } from '../src/apply/deploy';
import { loadMigrations, type Migration } from '../src/migrations/catalog';
import type { BenchContext, Benchmark } from './context';
import { makeFigure, type BenchmarkResult } from './figures';
import { PSQL, SQITCH } from './prerequisites';
import { cliEnvironment, expectSuccess, runCli, runProgram } from './run-program';
import { writeSqitchProject } from './sqitch-project';
import { elapsedMs, pairwiseRatios, rotate } from './statistics';

type DeployTool = 'onevault' | 'onevault library' | 'psql' | 'sqitch' | 'node start' | 'baseline onevault';

// `node start` deploys nothing: it times `node -e 0`, the part of the CLI's time that is Node's own
// process start, in the same rotation.
const TOOLS: readonly DeployTool[] = ['onevault', 'onevault library', 'psql', 'sqitch', 'node start'];

/**
 * Benchmark 1: every migration into a fresh database with the onevault CLI, with one psql process
 * that runs the files in order (the floor), and with Sqitch through a generated plan. The
 * library call (no process start) is measured too, to split the CLI's time.
 */
export const deployBenchmark: Benchmark = {
  id: 'deploy',
  title: 'Deploy all migrations into a fresh database',
  prerequisites: [PSQL, SQITCH],
  run: runDeployBenchmark,
};

async function runDeployBenchmark(context: BenchContext): Promise<BenchmarkResult> {
  const migrations = await loadMigrations(context.migrationsDir);
  const sqitchDir = writeSqitchProject(migrations);
  const tools: readonly DeployTool[] = context.baselineRoot === undefined ? TOOLS : [...TOOLS, 'baseline onevault'];
  const samples = new Map<DeployTool, number[]>(tools.map((tool) => [tool, []]));
  const peakRss: number[] = [];
  const cliCpuMs: number[] = [];
  const baselineCliCpuMs: number[] = [];

  try {
    for (let run = 0; run < context.runs; run += 1) {
      for (const tool of rotate(tools, run)) {
        if (tool === 'node start') {
          samples.get(tool)?.push(expectSuccess(await runProgram(process.execPath, ['-e', '0']), 'node -e 0').wallMs);
          continue;
        }
        const database = await context.server.createDatabase(`deploy_${tool.replace(' ', '_')}`);
        try {
          const measured = await deployWith(tool, context, database, migrations, sqitchDir);
          samples.get(tool)?.push(measured.wallMs);
          if (measured.peakRssMiB !== undefined && tool === 'onevault') peakRss.push(measured.peakRssMiB);
          if (measured.cpuMs !== undefined) (tool === 'onevault' ? cliCpuMs : baselineCliCpuMs).push(measured.cpuMs);
          await checkDeployed(context, database, migrations);
        } finally {
          await context.server.dropDatabase(database);
        }
      }
      context.log(`deploy: run ${run + 1}/${context.runs} done`);
    }
  } finally {
    rmSync(sqitchDir, { recursive: true, force: true });
  }

  const onevault = samples.get('onevault') ?? [];
  const library = samples.get('onevault library') ?? [];
  const psql = samples.get('psql') ?? [];
  const sqitch = samples.get('sqitch') ?? [];
  const nodeStart = samples.get('node start') ?? [];
  const versions = migrations.map((migration) => migration.version).join(', ');
  const baseline = samples.get('baseline onevault') ?? [];
  const baselineFigures =
    context.baselineRoot === undefined
      ? []
      : [
          makeFigure('deploy', 'baseline onevault deploy (CLI process)', 'ms', baseline),
          makeFigure('deploy', 'baseline onevault CLI / psql', 'x', pairwiseRatios(baseline, psql)),
          makeFigure('deploy', 'onevault CLI / baseline CLI', 'x', pairwiseRatios(onevault, baseline)),
          makeFigure('deploy', 'baseline CLI process CPU time', 'ms', baselineCliCpuMs),
          makeFigure('deploy', 'CLI CPU time / baseline CLI CPU time', 'x', pairwiseRatios(cliCpuMs, baselineCliCpuMs)),
        ];
  return {
    id: 'deploy',
    title: deployBenchmark.title,
    figures: [
      makeFigure('deploy', 'psql -f each file, one process (floor)', 'ms', psql),
      makeFigure('deploy', 'onevault deploy (CLI process)', 'ms', onevault),
      makeFigure('deploy', 'onevault deploy() library call', 'ms', library),
      makeFigure('deploy', 'sqitch deploy', 'ms', sqitch),
      makeFigure('deploy', 'onevault CLI / psql', 'x', pairwiseRatios(onevault, psql), { target: { kind: 'at most', value: 1.5 } }),
      makeFigure('deploy', 'onevault CLI / sqitch', 'x', pairwiseRatios(onevault, sqitch), { target: { kind: 'at most', value: 0.5 } }),
      makeFigure('deploy', 'sqitch / psql', 'x', pairwiseRatios(sqitch, psql)),
      makeFigure('deploy', 'onevault library / psql', 'x', pairwiseRatios(library, psql)),
      makeFigure('deploy', 'onevault CLI minus library call', 'ms', onevault.map((ms, index) => ms - library[index])),
      makeFigure('deploy', 'node -e 0 (Node process start)', 'ms', nodeStart),
      makeFigure('deploy', 'onevault CLI process CPU time', 'ms', cliCpuMs),
      makeFigure('deploy', 'onevault deploy peak RSS', 'MiB', peakRss),
      ...baselineFigures,
    ],
    notes: [
      `Migrations deployed: ${versions}.`,
      'psql runs as one process with one -f per file in version order (psql -X -q -v ON_ERROR_STOP=1 -f V000... -f V001...). ' +
        'psql -1 is not used: every file is its own BEGIN ... COMMIT, so its COMMIT would end the -1 transaction early.',
      'Sqitch deploys a generated project whose deploy scripts are the forward files unchanged (they keep their BEGIN and COMMIT), ' +
        'into a database without a Sqitch registry, so the registry is created in each run as a Sqitch user would see it.',
      'Each run creates a fresh database from template0 per tool (not timed) and rotates the order of the tools.',
      'CLI and sqitch times are wall times of the whole process, start-up included; the library time is the deploy() call on an open session.',
    ],
  };
}

interface DeployMeasurement {
  readonly wallMs: number;
  readonly peakRssMiB?: number;
  readonly cpuMs?: number;
}

async function deployWith(tool: DeployTool, context: BenchContext, database: string, migrations: readonly Migration[], sqitchDir: string): Promise<DeployMeasurement> {
  const address = context.server.address;
  switch (tool) {
    case 'onevault':
    case 'baseline onevault': {
      const root = tool === 'onevault' ? context.root : (context.baselineRoot as string);
      const run = await runCli(root, ['deploy', '--database-url', context.server.urlFor(database)]);
      expectSuccess(run, `onevault deploy (${root}) into ${database}`);
      return { wallMs: run.wallMs, peakRssMiB: run.peakRssMiB, cpuMs: run.cpuMs };
    }
    case 'onevault library':
      return context.server.withClient(database, async (client) => {
        const started = process.hrtime.bigint();
        const report = await deploy(client, { migrationsDir: context.migrationsDir });
        const wallMs = elapsedMs(started);
        if (report.error) throw report.error;
        return { wallMs };
      });
    case 'node start':
      throw new Error('node start deploys nothing and is timed by the caller');
    case 'psql': {
      const fileArgs = migrations.flatMap((migration) => ['-f', migration.forward.path]);
      const args = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', address.host, '-p', String(address.port), '-U', address.user, '-d', database, ...fileArgs];
      const run = await runProgram('psql', args, { env: cliEnvironment() });
      expectSuccess(run, `psql into ${database}`);
      return { wallMs: run.wallMs };
    }
    case 'sqitch': {
      const target = `db:pg://${encodeURIComponent(address.user)}@${address.host}:${address.port}/${database}`;
      const run = await runProgram('sqitch', ['--chdir', sqitchDir, 'deploy', target], { env: cliEnvironment() });
      expectSuccess(run, `sqitch deploy into ${database}`);
      return { wallMs: run.wallMs };
    }
  }
}

/** Checks that every migration recorded its SUCCESS row, so that each tool did the same work. */
async function checkDeployed(context: BenchContext, database: string, migrations: readonly Migration[]): Promise<void> {
  const versions = await context.server.withClient(database, async (client) => {
    const result = await client.query<{ version: string }>(
      `SELECT DISTINCT version FROM util.migration_log WHERE direction = 'FORWARD' AND status = 'SUCCESS' ORDER BY version`,
    );
    return result.rows.map((row) => row.version);
  });
  const expected = migrations.map((migration) => migration.version);
  if (versions.join(',') !== expected.join(',')) {
    throw new Error(`${database}: migration log lists ${versions.join(', ') || 'nothing'}, expected ${expected.join(', ')}`);
  }
}
