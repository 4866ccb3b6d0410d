import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

import { Command, InvalidArgumentError } from 'commander';

import { BenchServer, parseServerUrl } from './bench-server';
import { BENCHMARKS } from './benchmarks';
import { REPOSITORY_ROOT, type BenchContext } from './context';
import type { BenchmarkResult } from './figures';
import { readMachineFacts } from './machine';
import { ensurePrerequisites } from './prerequisites';
import { renderTable } from './render-table';

/** Runs behind every figure unless `--runs` sets another number; published figures need at least 5. */
const DEFAULT_RUNS = 5;
const QUICK_RUNS = 1;
const DEFAULT_SERVER_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const DEFAULT_OUTPUT = path.join(REPOSITORY_ROOT, 'bench', 'results', 'latest.json');

interface RunOptions {
  readonly only?: readonly string[];
  readonly runs?: number;
  readonly quick?: boolean;
  readonly serverUrl: string;
  readonly output: string;
  readonly keepTemplates?: boolean;
  readonly baselineRoot?: string;
}

async function main(argv: readonly string[]): Promise<number> {
  const options = parseOptions(argv);
  const selected = BENCHMARKS.filter((benchmark) => options.only === undefined || options.only.includes(benchmark.id));
  const log = (line: string): void => void process.stderr.write(`${line}\n`);

  const runs = options.runs ?? (options.quick ? QUICK_RUNS : DEFAULT_RUNS);
  if (runs < DEFAULT_RUNS) log(`warning: ${runs} run(s) per figure; published figures need at least ${DEFAULT_RUNS}.`);

  ensurePrerequisites([...new Set(selected.flatMap((benchmark) => benchmark.prerequisites ?? []))], log);

  const server = new BenchServer(parseServerUrl(options.serverUrl));
  const machine = await readMachineFacts(server);
  const context: BenchContext = {
    root: REPOSITORY_ROOT,
    migrationsDir: path.join(REPOSITORY_ROOT, 'migrations'),
    server,
    runs,
    quick: options.quick === true,
    keepTemplates: options.keepTemplates === true,
    baselineRoot: options.baselineRoot === undefined ? undefined : path.resolve(options.baselineRoot),
    log,
  };

  // Ctrl-C still drops the benchw_* databases; the CLI children get the signal from the terminal too.
  const onInterrupt = (): void => {
    log('Interrupted: dropping the benchmark databases.');
    void server.dropAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', onInterrupt);

  const startedAt = new Date();
  const results: BenchmarkResult[] = [];
  let failed = false;
  try {
    for (const benchmark of selected) {
      log(`== ${benchmark.id}: ${benchmark.title}`);
      try {
        results.push(await benchmark.run(context));
      } catch (error) {
        failed = true;
        const message = error instanceof Error ? error.message : String(error);
        log(`error: benchmark ${benchmark.id} failed: ${message}`);
        results.push({ id: benchmark.id, title: benchmark.title, figures: [], notes: [], skipped: `failed: ${message.split('\n')[0]}` });
      }
    }
  } finally {
    await server.dropAll();
    process.off('SIGINT', onInterrupt);
  }

  process.stdout.write(`${renderTable(results)}\n`);
  mkdirSync(path.dirname(options.output), { recursive: true });
  const document = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    runs,
    quick: context.quick,
    baselineRoot: context.baselineRoot ?? null,
    machine,
    results,
  };
  writeFileSync(options.output, `${JSON.stringify(document, null, 2)}\n`);
  log(`Figures written to ${path.relative(process.cwd(), options.output) || options.output}`);
  return failed ? 1 : 0;
}

function parseOptions(argv: readonly string[]): RunOptions {
  const ids = BENCHMARKS.map((benchmark) => benchmark.id);
  const program = new Command()
    .name('bench')
    .description('Measure onevault against psql and Sqitch on this machine; prints a table and writes the figures as JSON.')
    .option('--only <ids>', `comma-separated benchmarks to run (${ids.join(', ')}); default all`, (value) => parseIds(value, ids))
    .option('--runs <count>', `measured runs behind every figure (default ${DEFAULT_RUNS}, ${QUICK_RUNS} with --quick)`, parseRunCount)
    .option('--quick', 'smoke run: one run per figure and small data sets; the figures are not for publication')
    .option('--server-url <url>', 'PostgreSQL server on this machine; only benchw_* databases are created and dropped there', DEFAULT_SERVER_URL)
    .option('--output <file>', 'where to write the JSON figures', DEFAULT_OUTPUT)
    .option('--keep-templates', 'keep the prepared scale template database for the next run instead of dropping it')
    .option('--baseline-root <dir>', 'another built onevault checkout (for example the commit before a fix) to measure in the same runs')
    .parse([...argv]);
  return program.opts<RunOptions>();
}

function parseIds(value: string, known: readonly string[]): string[] {
  const ids = value.split(',').map((id) => id.trim()).filter((id) => id !== '');
  const unknown = ids.filter((id) => !known.includes(id));
  if (unknown.length > 0) throw new InvalidArgumentError(`unknown benchmark ${unknown.join(', ')}; known: ${known.join(', ')}`);
  return ids;
}

function parseRunCount(value: string): number {
  const count = Number(value);
  if (!Number.isInteger(count) || count < 1) throw new InvalidArgumentError(`--runs must be a whole number of at least 1, got ${value}`);
  return count;
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`error: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
