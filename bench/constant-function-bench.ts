import type { ClientBase } from 'pg';

import { deploy } from '../src/apply/deploy';
import type { BenchContext, Benchmark } from './context';
import { makeFigure, type BenchmarkResult } from './figures';
import { readBackendCpuMs } from './backend-cpu';
import { elapsedMs, pairwiseRatios, rotate } from './statistics';

const FULL_ROWS = 1_000_000;
const QUICK_ROWS = 100_000;
/** Executions of each query per timed sample; the function and literal queries alternate within a sample. */
const EXECUTIONS_PER_SAMPLE = 5;
/** Executions of each query per CPU-time sample: about 1 s of CPU at 1,000,000 rows. */
const CPU_EXECUTIONS_PER_SAMPLE = 20;
const SYSTEM_TENANT_LITERAL = `'\\x${'00'.repeat(31)}01'::bytea`;

const FILTER_QUERIES = {
  function: 'SELECT count(*) FROM public.constant_filter_rows WHERE tenant_hk = util.get_system_operations_tenant_hk()',
  literal: `SELECT count(*) FROM public.constant_filter_rows WHERE tenant_hk = ${SYSTEM_TENANT_LITERAL}`,
  volatile: 'SELECT count(*) FROM public.constant_filter_rows WHERE tenant_hk = public.volatile_system_tenant_hk()',
} as const;

type FilterVariant = keyof typeof FILTER_QUERIES;

/**
 * Benchmark 7: a sequential filter over 1,000,000 rows comparing `tenant_hk` with
 * `util.get_system_operations_tenant_hk()`, with the literal constant, and with a copy of the
 * function that the planner can neither inline nor pre-evaluate (to show what inlining saves).
 */
export const constantFunctionBenchmark: Benchmark = {
  id: 'constant',
  title: 'util.get_system_operations_tenant_hk() in a 1,000,000-row filter vs the literal',
  run: runConstantFunctionBenchmark,
};

async function runConstantFunctionBenchmark(context: BenchContext): Promise<BenchmarkResult> {
  const rowCount = context.quick ? QUICK_ROWS : FULL_ROWS;
  const database = await context.server.createDatabase('constant');
  try {
    return await context.server.withClient(database, async (client) => {
      const report = await deploy(client, { migrationsDir: context.migrationsDir });
      if (report.error) throw report.error;
      await prepareFilterTable(client, rowCount);

      const plans = await explainFilters(client);
      const samples = new Map<FilterVariant, number[]>([
        ['function', []],
        ['literal', []],
        ['volatile', []],
      ]);
      const functionCpuMs: number[] = [];
      const literalCpuMs: number[] = [];
      const backendPid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;

      // One untimed pass loads the table into shared buffers.
      for (const variant of samples.keys()) await client.query(FILTER_QUERIES[variant]);

      for (let run = 0; run < context.runs; run += 1) {
        const paired = await timeAlternating(client, rotate(['function', 'literal'] as const, run));
        samples.get('function')?.push(paired.function);
        samples.get('literal')?.push(paired.literal);

        const cpu: Partial<Record<'function' | 'literal', number>> = {};
        for (const variant of rotate(['function', 'literal'] as const, run)) cpu[variant] = await measureServerCpu(client, backendPid, variant);
        if (cpu.function !== undefined && cpu.literal !== undefined) {
          functionCpuMs.push(cpu.function);
          literalCpuMs.push(cpu.literal);
        }
        samples.get('volatile')?.push(await timeRepeated(client, 'volatile'));
      }

      const functionMs = samples.get('function') ?? [];
      const literalMs = samples.get('literal') ?? [];
      const volatileMs = samples.get('volatile') ?? [];
      const rows = rowCount.toLocaleString('en-US');
      return {
        id: 'constant',
        title: constantFunctionBenchmark.title,
        figures: [
          makeFigure('constant', `literal constant, ${rows} rows x${EXECUTIONS_PER_SAMPLE}`, 'ms', literalMs),
          makeFigure('constant', `util.get_system_operations_tenant_hk(), ${rows} rows x${EXECUTIONS_PER_SAMPLE}`, 'ms', functionMs),
          makeFigure('constant', 'function / literal, wall time', 'x', pairwiseRatios(functionMs, literalMs)),
          ...(functionCpuMs.length === 0
            ? []
            : [
                makeFigure('constant', 'function / literal, server CPU time', 'x', pairwiseRatios(functionCpuMs, literalCpuMs), {
                  target: { kind: 'between', low: 0.95, high: 1.05 },
                }),
              ]),
          makeFigure('constant', 'copy called per row (not inlined) / literal', 'x', pairwiseRatios(volatileMs, literalMs)),
        ],
        notes: [
          `The table public.constant_filter_rows has ${rows} rows of one bytea column, 1% of them the system tenant key, and no index, so every query is a sequential scan that evaluates the comparison on each row.`,
          'Parallel query is off (max_parallel_workers_per_gather = 0) so that worker start-up does not add noise.',
          'The target is checked on the CPU time of the server process (utime + stime from /proc/<pid>/stat), which waiting for a core does not inflate; ' +
            (functionCpuMs.length === 0 ? 'it could not be read here, so only wall times are shown.' : 'wall times are shown beside it.'),
          `Plan of the function query: ${plans.function}`,
          `Plan of the literal query: ${plans.literal}`,
          `The function is inlined to the literal: ${plans.function === plans.literal ? 'yes (identical plans)' : 'NO (plans differ)'}.`,
        ],
      };
    });
  } finally {
    await context.server.dropDatabase(database);
  }
}

async function prepareFilterTable(client: ClientBase, rowCount: number): Promise<void> {
  await client.query('SET max_parallel_workers_per_gather = 0');
  await client.query('CREATE TABLE public.constant_filter_rows (tenant_hk bytea NOT NULL)');
  await client.query(
    `INSERT INTO public.constant_filter_rows (tenant_hk)
     SELECT CASE WHEN row_number % 100 = 0 THEN ${SYSTEM_TENANT_LITERAL} ELSE util.hash_binary('BENCH_TENANT_' || row_number) END
     FROM generate_series(1, $1::integer) AS row_number`,
    [rowCount],
  );
  await client.query('VACUUM (ANALYZE) public.constant_filter_rows');

  // Same body as the platform function, but the SET clause keeps the planner from inlining it and
  // VOLATILE from evaluating it once at planning time, so it is called for every row.
  await client.query(`
    CREATE FUNCTION public.volatile_system_tenant_hk()
    RETURNS bytea
    LANGUAGE sql
    VOLATILE
    SET search_path = pg_catalog
    AS $function$ SELECT pg_catalog.decode('${'00'.repeat(31)}01', 'hex') $function$`);
}

/** Returns the filter line of each query's plan, to show whether the function became a constant. */
async function explainFilters(client: ClientBase): Promise<Record<'function' | 'literal', string>> {
  const filterOf = async (sql: string): Promise<string> => {
    const result = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN (VERBOSE, COSTS OFF) ${sql}`);
    const lines = result.rows.map((row) => row['QUERY PLAN'].trim());
    return lines.find((line) => line.startsWith('Filter:')) ?? lines.join(' / ');
  };
  return { function: await filterOf(FILTER_QUERIES.function), literal: await filterOf(FILTER_QUERIES.literal) };
}

/**
 * Runs the variants one after the other, EXECUTIONS_PER_SAMPLE rounds, and returns the summed wall
 * time of each, so that both see the same moments of background load.
 */
async function timeAlternating<V extends FilterVariant>(client: ClientBase, variants: readonly V[]): Promise<Record<V, number>> {
  const totals = Object.fromEntries(variants.map((variant) => [variant, 0])) as Record<V, number>;
  for (let execution = 0; execution < EXECUTIONS_PER_SAMPLE; execution += 1) {
    for (const variant of variants) {
      const started = process.hrtime.bigint();
      await client.query(FILTER_QUERIES[variant]);
      totals[variant] += elapsedMs(started);
    }
  }
  return totals;
}

/**
 * Runs one variant CPU_EXECUTIONS_PER_SAMPLE times in a row and returns the CPU time the server
 * process spent, in ms, or undefined when /proc cannot be read. One reading per block keeps the
 * clock tick of /proc (10 ms on common Linux builds) small against the total.
 */
async function measureServerCpu(client: ClientBase, backendPid: number, variant: FilterVariant): Promise<number | undefined> {
  const before = await readBackendCpuMs(client, backendPid);
  for (let execution = 0; execution < CPU_EXECUTIONS_PER_SAMPLE; execution += 1) {
    await client.query(FILTER_QUERIES[variant]);
  }
  const after = await readBackendCpuMs(client, backendPid);
  return before === undefined || after === undefined ? undefined : after - before;
}

async function timeRepeated(client: ClientBase, variant: FilterVariant): Promise<number> {
  const started = process.hrtime.bigint();
  for (let execution = 0; execution < EXECUTIONS_PER_SAMPLE; execution += 1) {
    await client.query(FILTER_QUERIES[variant]);
  }
  return elapsedMs(started);
}
