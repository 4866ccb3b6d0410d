import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import { deploy } from '../src/apply/deploy';
import { rollback } from '../src/apply/rollback';
import { loadMigrations } from '../src/migrations/catalog';
import { DATABASE_PREFIX } from './bench-server';
import { ConcurrentWriter, longestWriteDuring, writesFinishedDuring } from './concurrent-writer';
import type { BenchContext, Benchmark } from './context';
import { makeFigure, type BenchmarkResult } from './figures';
import { elapsedMs } from './statistics';
import { insertTenants, type TenantShape } from './tenant-data';

const FULL_TENANTS = 100_000;
const QUICK_TENANTS = 1_000;
const TENANTS_PER_BATCH = 10_000;
const SHAPE: TenantShape = { profileVersions: 10, usersPerTenant: 10 };
/** Writer-only time before the deploy and between the phases, so each phase starts from a steady writer. */
const SETTLE_MS = 500;
/** Bumped when the generated data changes, so that a kept template is rebuilt. */
const DATA_GENERATION = 1;
const BLOCKED_TARGET_MS = 1_000;
const TEMPLATE_PREFIX = `${DATABASE_PREFIX}scale_template_`;

/**
 * Benchmark 6: V001 deploy and rollback on a copy of a database that already contains 100,000
 * tenants with 1,000,000 profile versions and 1,000,000 users, while a second session keeps
 * writing tenant profile versions and records how long each of its transactions waited.
 */
export const scaleBenchmark: Benchmark = {
  id: 'scale',
  title: 'V001 deploy and rollback on 100,000 tenants under a concurrent writer',
  run: runScaleBenchmark,
};

async function runScaleBenchmark(context: BenchContext): Promise<BenchmarkResult> {
  const tenants = context.quick ? QUICK_TENANTS : FULL_TENANTS;
  const template = await ensureScaleTemplate(context, tenants);

  const deployMs: number[] = [];
  const rollbackMs: number[] = [];
  const deployBlockedMs: number[] = [];
  const rollbackBlockedMs: number[] = [];
  const idleLongestMs: number[] = [];
  const writesDuringDeploy: number[] = [];
  const writesDuringRollback: number[] = [];

  try {
    for (let run = 0; run < context.runs; run += 1) {
      const database = await context.server.createDatabase('scale', template);
      try {
        const measured = await measureOneRun(context, database, tenants);
        deployMs.push(measured.deployMs);
        rollbackMs.push(measured.rollbackMs);
        deployBlockedMs.push(measured.deployBlockedMs);
        rollbackBlockedMs.push(measured.rollbackBlockedMs);
        idleLongestMs.push(measured.idleLongestMs);
        writesDuringDeploy.push(measured.writesDuringDeploy);
        writesDuringRollback.push(measured.writesDuringRollback);
      } finally {
        await context.server.dropDatabase(database);
      }
      context.log(`scale: run ${run + 1}/${context.runs} done`);
    }
  } finally {
    if (!context.keepTemplates) await context.server.dropDatabase(template);
  }

  const target = { kind: 'at most', value: BLOCKED_TARGET_MS } as const;
  return {
    id: 'scale',
    title: scaleBenchmark.title,
    figures: [
      makeFigure('scale', 'V001 deploy', 'ms', deployMs),
      makeFigure('scale', 'V001 rollback', 'ms', rollbackMs),
      makeFigure('scale', 'writer longest wait during deploy', 'ms', deployBlockedMs, { target }),
      makeFigure('scale', 'writer longest wait during rollback', 'ms', rollbackBlockedMs, { target }),
      makeFigure('scale', 'writer longest transaction with no migration', 'ms', idleLongestMs),
      makeFigure('scale', 'writer transactions finished during deploy', 'count', writesDuringDeploy),
      makeFigure('scale', 'writer transactions finished during rollback', 'count', writesDuringRollback),
    ],
    notes: [
      `Data: ${tenants.toLocaleString('en-US')} tenants, each with ${SHAPE.profileVersions} versions in auth.tenant_profile_s and ${SHAPE.usersPerTenant} users ` +
        '(auth.user_h and one version in auth.user_profile_s), generated with generate_series into a template database once and copied per run with CREATE DATABASE ... TEMPLATE ... STRATEGY FILE_COPY.',
      'V000 is deployed in the template; each run deploys V001 (deploy --to V001) and rolls it back (rollback --to V000) through the library, on one session.',
      'The writer is a second session that, in a loop, closes the current profile version of a generated tenant and inserts the next one in one transaction. ' +
        'Its longest wait is the longest of its transactions that overlapped the deploy or rollback call, as timed by the writer itself.',
    ],
  };
}

interface RunMeasurement {
  readonly deployMs: number;
  readonly rollbackMs: number;
  readonly deployBlockedMs: number;
  readonly rollbackBlockedMs: number;
  readonly idleLongestMs: number;
  readonly writesDuringDeploy: number;
  readonly writesDuringRollback: number;
}

async function measureOneRun(context: BenchContext, database: string, tenants: number): Promise<RunMeasurement> {
  const migrationClient = await context.server.connect(database);
  const writerClient = await context.server.connect(database);
  const writer = new ConcurrentWriter(writerClient, tenants);
  try {
    writer.start();
    const idleFrom = writer.now();
    await sleep(SETTLE_MS);
    const idleTo = writer.now();

    const deployFrom = writer.now();
    const deployStarted = process.hrtime.bigint();
    const deployed = await deploy(migrationClient, { migrationsDir: context.migrationsDir, to: 'V001' });
    const deployMs = elapsedMs(deployStarted);
    const deployTo = writer.now();
    if (deployed.error) throw deployed.error;
    if (!deployed.outcomes.some((outcome) => outcome.version === 'V001' && outcome.status === 'applied')) {
      throw new Error(`${database}: deploy --to V001 did not apply V001`);
    }

    await sleep(SETTLE_MS);

    const rollbackFrom = writer.now();
    const rollbackStarted = process.hrtime.bigint();
    const rolledBack = await rollback(migrationClient, { migrationsDir: context.migrationsDir, to: 'V000' });
    const rollbackMs = elapsedMs(rollbackStarted);
    const rollbackTo = writer.now();
    if (rolledBack.error) throw rolledBack.error;

    await sleep(SETTLE_MS);
    const samples = await writer.stop();
    return {
      deployMs,
      rollbackMs,
      deployBlockedMs: longestWriteDuring(samples, deployFrom, deployTo),
      rollbackBlockedMs: longestWriteDuring(samples, rollbackFrom, rollbackTo),
      idleLongestMs: longestWriteDuring(samples, idleFrom, idleTo),
      writesDuringDeploy: writesFinishedDuring(samples, deployFrom, deployTo),
      writesDuringRollback: writesFinishedDuring(samples, rollbackFrom, rollbackTo),
    };
  } finally {
    await writer.stop().catch(() => undefined);
    await migrationClient.end().catch(() => undefined);
    await writerClient.end().catch(() => undefined);
  }
}

/**
 * Returns the name of the template database for this data size and V000 file, creating and
 * loading it when it does not exist yet. The name carries a hash of both, so a kept template is
 * reused only while it still matches.
 */
async function ensureScaleTemplate(context: BenchContext, tenants: number): Promise<string> {
  const migrations = await loadMigrations(context.migrationsDir);
  const v000 = migrations.find((migration) => migration.version === 'V000');
  if (v000 === undefined) throw new Error(`no V000 in ${context.migrationsDir}`);

  const key = createHash('sha256').update(`${DATA_GENERATION}:${tenants}:${JSON.stringify(SHAPE)}:${v000.forward.checksum}`).digest('hex').slice(0, 12);
  const sizePrefix = `${TEMPLATE_PREFIX}${tenants}_`;
  const name = `${sizePrefix}${key}`;
  await dropStaleTemplates(context, sizePrefix, name);
  const existing = await context.server.adminQuery('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  // An adopted database is dropped when the run ends, also when it fails.
  if (!context.keepTemplates) context.server.adopt(name);
  if (existing.length > 0) {
    context.log(`scale: reusing template database ${name}`);
    return name;
  }

  context.log(`scale: building template database ${name} (${tenants.toLocaleString('en-US')} tenants; takes a few minutes once)`);
  const started = process.hrtime.bigint();
  await context.server.adminQuery(`CREATE DATABASE "${name}" TEMPLATE template0`);
  await context.server.withClient(name, async (client) => {
    const report = await deploy(client, { migrationsDir: context.migrationsDir, to: 'V000' });
    if (report.error) throw report.error;

    for (let first = 1; first <= tenants; first += TENANTS_PER_BATCH) {
      const last = Math.min(tenants, first + TENANTS_PER_BATCH - 1);
      await insertTenants(client, first, last, SHAPE);
      context.log(`scale: ${last.toLocaleString('en-US')} of ${tenants.toLocaleString('en-US')} tenants loaded`);
    }
    await client.query('VACUUM (ANALYZE) auth.tenant_h, auth.tenant_profile_s, auth.user_h, auth.user_profile_s');
  });
  context.log(`scale: template ready in ${(elapsedMs(started) / 1000).toFixed(0)} s`);
  return name;
}

/** Drops kept templates of the same size built from another V000 or data generation, so that they do not pile up. */
async function dropStaleTemplates(context: BenchContext, sizePrefix: string, current: string): Promise<void> {
  const rows = await context.server.adminQuery<{ name: string }>(
    `SELECT datname AS name FROM pg_database WHERE starts_with(datname, $1) AND datname <> $2`,
    [sizePrefix, current],
  );
  for (const row of rows) {
    context.log(`scale: dropping stale template database ${row.name}`);
    await context.server.dropDatabase(row.name);
  }
}
