import { deploy } from '../src/apply/deploy';
import type { BenchContext, Benchmark } from './context';
import { makeFigure, type BenchmarkResult } from './figures';
import { expectSuccess, hasCliCommand, runCli } from './run-program';

/** Lines of `onevault test` progress on stderr that mark the phases of the suite. */
const GROUP_START = /^Checking (\S+) \.\.\.$/;
const SCRATCH_CREATED = /^\s+created scratch copy (\S+)/;
const SCRATCH_DROPPED = /^\s+dropped scratch copy (\S+)/;

interface TimedLine {
  readonly line: string;
  readonly atMs: number;
}

/**
 * Benchmark 4: wall time of `onevault test` against a deployed database, and the share of it
 * spent in the check groups that work in scratch copies (copy, checks in the copy, drop).
 */
export const testSuiteBenchmark: Benchmark = {
  id: 'test',
  title: 'onevault test: wall time and share in scratch copies',
  run: runTestSuiteBenchmark,
};

async function runTestSuiteBenchmark(context: BenchContext): Promise<BenchmarkResult> {
  if (!(await hasCliCommand(context.root, 'test'))) {
    return { id: 'test', title: testSuiteBenchmark.title, figures: [], notes: [], skipped: 'the built CLI has no test command' };
  }

  const wallMs: number[] = [];
  const scratchShare: number[] = [];
  const copyCreationMs: number[] = [];
  const copies: number[] = [];

  const database = await context.server.createDatabase('test_target');
  try {
    await context.server.withClient(database, async (client) => {
      const report = await deploy(client, { migrationsDir: context.migrationsDir });
      if (report.error) throw report.error;
    });

    for (let run = 0; run < context.runs; run += 1) {
      const lines: TimedLine[] = [];
      const tested = await runCli(context.root, ['test', '--database-url', context.server.urlFor(database)], {
        onStderrLine: (line, atMs) => lines.push({ line, atMs }),
      });
      expectSuccess(tested, 'onevault test');
      const phases = splitPhases(lines, tested.wallMs);
      wallMs.push(tested.wallMs);
      scratchShare.push((100 * phases.scratchGroupsMs) / tested.wallMs);
      copyCreationMs.push(phases.copyCreationMs);
      copies.push(phases.copies);
      context.log(`test: run ${run + 1}/${context.runs} done`);
    }
  } finally {
    await context.server.dropDatabase(database);
  }

  return {
    id: 'test',
    title: testSuiteBenchmark.title,
    figures: [
      makeFigure('test', 'onevault test (CLI process)', 'ms', wallMs),
      makeFigure('test', 'share in scratch-copy groups', '%', scratchShare),
      makeFigure('test', 'time creating scratch copies', 'ms', copyCreationMs),
      makeFigure('test', 'scratch copies per run', 'count', copies),
    ],
    notes: [
      'The target is a fresh database with every migration deployed; no other session is open on it, so copies are made with CREATE DATABASE ... TEMPLATE.',
      'Phases come from the progress lines on stderr, timed as they arrive: a scratch-copy group runs from its "Checking" line to the next group or the end of the process; ' +
        'creating a copy runs from the line before "created scratch copy" to that line.',
    ],
  };
}

interface Phases {
  readonly scratchGroupsMs: number;
  readonly copyCreationMs: number;
  readonly copies: number;
}

function splitPhases(lines: readonly TimedLine[], endMs: number): Phases {
  const groupStarts = lines.map((entry, index) => ({ ...entry, index })).filter((entry) => GROUP_START.test(entry.line));
  let scratchGroupsMs = 0;
  for (const [position, start] of groupStarts.entries()) {
    const next = groupStarts[position + 1];
    const end = next === undefined ? endMs : next.atMs;
    const span = lines.slice(start.index, next === undefined ? lines.length : next.index);
    if (span.some((entry) => SCRATCH_CREATED.test(entry.line))) scratchGroupsMs += end - start.atMs;
  }

  let copyCreationMs = 0;
  let copies = 0;
  for (const [index, entry] of lines.entries()) {
    if (!SCRATCH_CREATED.test(entry.line) || index === 0) continue;
    copies += 1;
    copyCreationMs += entry.atMs - lines[index - 1].atMs;
  }
  // Drops are part of the scratch groups; they are counted to check that every copy was dropped.
  const drops = lines.filter((entry) => SCRATCH_DROPPED.test(entry.line)).length;
  if (drops !== copies) throw new Error(`onevault test created ${copies} scratch copies but dropped ${drops}`);
  return { scratchGroupsMs, copyCreationMs, copies };
}
