import * as path from 'node:path';

import type { ClientBase } from 'pg';

import { deploy } from '../src/apply/deploy';
import { takeFingerprint } from '../src/fingerprint';
import type { BenchContext, Benchmark } from './context';
import { makeFigure, type BenchmarkResult, type Figure } from './figures';
import { elapsedMs, pairwiseRatios } from './statistics';
import { insertTenants, type TenantShape } from './tenant-data';

/** Tenants of the 1x data set; 10x and 100x multiply it. */
const BASE_TENANTS = 100;
const SCALE_FACTORS = [1, 10, 100] as const;
const SHAPE: TenantShape = { profileVersions: 10, usersPerTenant: 10 };

/**
 * Benchmark 3: `takeFingerprint` of the freshly deployed platform (catalog alone, and catalog
 * plus rows), then of the same database holding 1x, 10x and 100x a set of generated tenants.
 */
export const fingerprintBenchmark: Benchmark = {
  id: 'fingerprint',
  title: 'Fingerprint of the deployed platform and its growth with rows',
  run: runFingerprintBenchmark,
};

async function runFingerprintBenchmark(context: BenchContext): Promise<BenchmarkResult> {
  const database = await context.server.createDatabase('fingerprint');
  try {
    return await context.server.withClient(database, async (client) => {
      const report = await deploy(client, { migrationsDir: context.migrationsDir });
      if (report.error) throw report.error;

      const figures: Figure[] = [];
      const notes: string[] = [];
      const catalogOnly = await timeFingerprints(client, context.runs, ['*']);
      const deployed = await timeFingerprints(client, context.runs);
      const platformRows = await countRows(client);
      figures.push(makeFigure('fingerprint', 'deployed platform, catalog only', 'ms', catalogOnly));
      figures.push(makeFigure('fingerprint', `deployed platform, catalog and rows (${platformRows} rows)`, 'ms', deployed));
      if (context.baselineRoot !== undefined) {
        const baseline = await timeFingerprints(client, context.runs, undefined, loadBaselineFingerprint(context.baselineRoot));
        figures.push(makeFigure('fingerprint', 'baseline build, deployed platform, catalog and rows', 'ms', baseline));
        figures.push(makeFigure('fingerprint', 'deployed platform / baseline build', 'x', pairwiseRatios(deployed, baseline)));
      }

      const byFactor = new Map<number, number[]>();
      let tenants = 0;
      for (const factor of SCALE_FACTORS) {
        const wanted = BASE_TENANTS * factor;
        await insertTenants(client, tenants + 1, wanted, SHAPE);
        tenants = wanted;
        await client.query('VACUUM (ANALYZE) auth.tenant_h, auth.tenant_profile_s, auth.user_h, auth.user_profile_s');

        const rows = await countRows(client);
        const samples = await timeFingerprints(client, context.runs);
        byFactor.set(factor, samples);
        figures.push(makeFigure('fingerprint', `${factor}x data: ${tenants} tenants, ${rows} rows`, 'ms', samples));
        context.log(`fingerprint: ${factor}x measured (${rows} rows)`);
      }

      const base = byFactor.get(1) ?? [];
      for (const factor of SCALE_FACTORS.filter((value) => value > 1)) {
        const samples = byFactor.get(factor) ?? [];
        figures.push(makeFigure('fingerprint', `growth ${factor}x rows / 1x rows`, 'x', pairwiseRatios(samples, base)));
      }

      notes.push(
        `1x is ${BASE_TENANTS} generated tenants, each with ${SHAPE.profileVersions} profile versions and ${SHAPE.usersPerTenant} users (hub and one profile version each), on top of the deployed platform.`,
        'The fingerprint runs in-process on an open session (no process start); catalog only means every table is in ignoreTables.',
      );
      return { id: 'fingerprint', title: fingerprintBenchmark.title, figures, notes };
    });
  } finally {
    await context.server.dropDatabase(database);
  }
}

type TakeFingerprint = typeof takeFingerprint;

/** Loads `takeFingerprint` from another built checkout, to compare with it in the same run. */
function loadBaselineFingerprint(root: string): TakeFingerprint {
  const module = require(path.join(root, 'dist', 'src', 'fingerprint')) as { takeFingerprint: TakeFingerprint };
  return module.takeFingerprint;
}

async function timeFingerprints(client: ClientBase, runs: number, ignoreTables?: readonly string[], take: TakeFingerprint = takeFingerprint): Promise<number[]> {
  // One untimed fingerprint first, so that every timed one finds the catalog caches warm.
  await take(client, { ignoreTables });
  const samples: number[] = [];
  for (let run = 0; run < runs; run += 1) {
    const started = process.hrtime.bigint();
    await take(client, { ignoreTables });
    samples.push(elapsedMs(started));
  }
  return samples;
}

/** Counts the rows of every ordinary table outside the system schemas. */
async function countRows(client: ClientBase): Promise<number> {
  const tables = await client.query<{ name: string }>(`
    SELECT format('%I.%I', n.nspname, c.relname) AS name
    FROM pg_class AS c
    JOIN pg_namespace AS n ON n.oid = c.relnamespace
    WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'`);
  let total = 0;
  for (const table of tables.rows) {
    const result = await client.query<{ count: string }>(`SELECT count(*) AS count FROM ONLY ${table.name}`);
    total += Number(result.rows[0].count);
  }
  return total;
}
