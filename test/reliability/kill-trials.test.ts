import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { ClientBase } from 'pg';

import type { Fingerprint } from '../../src/fingerprint';
import { runCli } from '../helpers/cli';
import { withFreshDatabase } from '../helpers/database';
import { fingerprintChanges, platformFingerprint } from '../helpers/platform';
import { copyPlatformMigrations, readLog, removeFolder, startCli, waitForDeployLockFree, type CliProcess } from './fixtures';

/** Trials per phase; RELW_KILL_TRIALS overrides it for a longer run. */
const TRIALS = Number(process.env.RELW_KILL_TRIALS ?? 20);
/** Seed of the kill moments, printed with the results so that a run can be repeated. */
const SEED = Number(process.env.RELW_KILL_SEED ?? Date.now() % 2 ** 31);
/**
 * Every fourth trial draws its moment from the whole life of the process, start-up, lock and exit
 * included. The others pick one migration at random and a moment inside its measured run time.
 */
const WHOLE_PROCESS_EVERY = 4;
/** Calibration runs per command; the longest time of each migration is kept. */
const CALIBRATION_RUNS = 2;

/**
 * Groups of `onevault test` run after each trial. Idempotency and rollback readiness build scratch
 * copies of the database and take seconds each, so they run once after the last trial of a phase.
 */
const QUICK_TEST_GROUPS = ['prerequisites', 'migration log', 'system tenant', 'system role', 'utility function', 'indexes', 'security', 'performance'];

interface TrialRecord {
  readonly phase: 'deploy' | 'rollback';
  readonly trial: number;
  /** A version: measured from its "Deploying"/"Rolling back" line; `process`: from the spawn. */
  readonly anchor: string;
  readonly delayMs: number;
  readonly killed: boolean;
  /** Versions applied when the killed process was gone and the lock was free. */
  readonly appliedAfterKill: readonly string[];
  /** From the kill until the server had released the deploy lock. */
  readonly lockFreeMs: number;
  /** The state after the kill equals a clean deploy of exactly the applied versions. */
  readonly atomic: boolean;
  /** The recovery deploy and `onevault test`, together. */
  readonly recoverMs: number;
  readonly failure?: string;
}

let platform: string;
let versions: string[];
const records: TrialRecord[] = [];

before(async () => {
  platform = await copyPlatformMigrations();
  versions = [...new Set((await fs.readdir(platform)).map((name) => name.slice(0, 4)))].sort();
});

after(async () => {
  await removeFolder(platform);
  if (process.env.RELW_KILL_REPORT) await fs.writeFile(process.env.RELW_KILL_REPORT, `${JSON.stringify({ seed: SEED, trials: TRIALS, records }, null, 2)}\n`);
});

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32), so a seed repeats the kill moments. */
function randomSource(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
}

async function appliedVersions(client: ClientBase): Promise<string[]> {
  const hasLog = (await client.query(`SELECT to_regclass('util.migration_log') IS NOT NULL AS present`)).rows[0].present;
  if (!hasLog) return [];
  const states = new Map<string, boolean>();
  for (const run of await readLog(client)) if (run.status === 'SUCCESS') states.set(run.version, run.direction === 'FORWARD');
  return [...states].filter(([, applied]) => applied).map(([version]) => version).sort();
}

/** Waits for the moment drawn for this trial and kills the command with SIGKILL; false when it had ended first. */
async function killAtMoment(cli: CliProcess, startLine: RegExp | undefined, delayMs: number): Promise<boolean> {
  if (startLine) {
    const started = await cli.waitForStderr(startLine, 60_000).then(
      () => true,
      () => false,
    );
    if (!started) return false;
  }
  await new Promise((resolve) => setTimeout(resolve, delayMs));
  if (cli.child.exitCode !== null) return false;
  cli.child.kill('SIGKILL');
  await cli.result;
  return cli.child.signalCode === 'SIGKILL';
}

interface Timing {
  /** From the spawn to the exit of an unkilled run. */
  readonly processMs: number;
  /** Run time of each migration file, as the report line prints it. */
  readonly migrationMs: ReadonlyMap<string, number>;
}

/** Runs the command unkilled and returns its timing. */
async function timeRun(args: readonly string[]): Promise<Timing> {
  const spawned = Date.now();
  const result = await runCli(args);
  assert.equal(result.code, 0, result.stderr);
  const migrationMs = new Map<string, number>();
  for (const match of result.stdout.matchAll(/^[+-] (V\d{3}) \S+ \.+ ok \((\d+(?:\.\d+)?) (ms|s)\)$/gm)) {
    migrationMs.set(match[1], Number(match[2]) * (match[3] === 's' ? 1000 : 1));
  }
  return { processMs: Date.now() - spawned, migrationMs };
}

/** Keeps the longest time of the process and of each migration. */
function longest(timings: readonly Timing[]): Timing {
  const migrationMs = new Map<string, number>();
  for (const timing of timings) for (const [version, ms] of timing.migrationMs) migrationMs.set(version, Math.max(migrationMs.get(version) ?? 0, ms));
  return { processMs: Math.max(...timings.map((timing) => timing.processMs)), migrationMs };
}

/**
 * Runs one trial: kill, wait for the server to free the lock, compare the state with the reference
 * of the applied versions, then deploy and `onevault test`. Returns the record; never throws for a
 * failed check, so that every trial is counted.
 */
async function runTrial(
  client: ClientBase,
  url: string,
  phase: TrialRecord['phase'],
  trial: number,
  command: readonly string[],
  timing: Timing,
  random: () => number,
  references: ReadonlyMap<string, Fingerprint>,
): Promise<TrialRecord> {
  const migrations = [...timing.migrationMs.keys()];
  const anchor = trial % WHOLE_PROCESS_EVERY === 0 ? 'process' : migrations[Math.floor(random() * migrations.length)];
  const windowMs = anchor === 'process' ? timing.processMs : (timing.migrationMs.get(anchor) ?? 0);
  const delayMs = Math.round(random() * windowMs);
  const startLine = anchor === 'process' ? undefined : new RegExp(`${phase === 'deploy' ? 'Deploying' : 'Rolling back'} ${anchor} `);

  const cli = startCli([...command, '--database-url', url, '--migrations', platform]);
  const killed = await killAtMoment(cli, startLine, delayMs);
  const killedAt = Date.now();
  await waitForDeployLockFree(client, 30_000);
  const lockFreeMs = Date.now() - killedAt;

  const applied = await appliedVersions(client);
  const reference = references.get(applied.join(','));
  const atomicDifferences = reference ? fingerprintChanges(reference, await platformFingerprint(client)) : `no reference for applied versions [${applied.join(', ')}]`;

  const recoverStarted = Date.now();
  const deployed = await runCli(['deploy', '--database-url', url, '--migrations', platform]);
  const tested = await runCli(['test', '--database-url', url, '--migrations', platform, '--group', ...QUICK_TEST_GROUPS]);
  const recoverMs = Date.now() - recoverStarted;

  const failures: string[] = [];
  if (atomicDifferences !== '') failures.push(`state after the kill is not a clean state of [${applied.join(', ')}]:\n${atomicDifferences}`);
  if (deployed.code !== 0) failures.push(`recovery deploy exited ${deployed.code}: ${deployed.stderr}`);
  if (tested.code !== 0) failures.push(`onevault test exited ${tested.code}:\n${tested.stdout}\n${tested.stderr}`);
  const converged = fingerprintChanges(references.get(versions.join(',')) as Fingerprint, await platformFingerprint(client));
  if (converged !== '') failures.push(`state after recovery differs from a clean deploy:\n${converged}`);

  return { phase, trial, anchor, delayMs, killed, appliedAfterKill: applied, lockFreeMs, atomic: atomicDifferences === '', recoverMs, failure: failures.length > 0 ? failures.join('\n') : undefined };
}

function summarize(t: TestContext, phase: TrialRecord['phase'], timing: Timing): void {
  const trials = records.filter((record) => record.phase === phase);
  const killed = trials.filter((record) => record.killed);
  const failed = trials.filter((record) => record.failure);
  const states = new Map<string, number>();
  for (const record of killed) states.set(record.appliedAfterKill.join('+') || 'none', (states.get(record.appliedAfterKill.join('+') || 'none') ?? 0) + 1);
  const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
  const calibration = [...timing.migrationMs].map(([version, ms]) => `${version} ${ms} ms`).join(', ');
  t.diagnostic(
    `${phase}: seed ${SEED}, unkilled run ${timing.processMs} ms (${calibration}), ${trials.length} trials, ${killed.length} killed mid-run, ${failed.length} failed; ` +
      `applied after kill: ${[...states].map(([state, count]) => `${state} ${count}x`).join(', ')}; ` +
      `lock free after kill: median ${median(killed.map((record) => record.lockFreeMs))} ms, max ${Math.max(0, ...killed.map((record) => record.lockFreeMs))} ms; ` +
      `recovery (deploy + onevault test): median ${median(trials.map((record) => record.recoverMs))} ms, max ${Math.max(0, ...trials.map((record) => record.recoverMs))} ms`,
  );
}

describe('kill -9 trials', () => {
  const references = new Map<string, Fingerprint>();
  const rollbackReferences = new Map<string, Fingerprint>();
  let deployTiming: Timing;
  let rollbackTiming: Timing;

  before(async () => {
    // References: the platform after a clean deploy of each prefix of the versions, and after a
    // clean rollback to each prefix.
    await withFreshDatabase(async (client, url) => {
      references.set('', await platformFingerprint(client));
      for (const version of versions) {
        assert.equal((await runCli(['deploy', '--to', version, '--database-url', url, '--migrations', platform])).code, 0);
        references.set(versions.slice(0, versions.indexOf(version) + 1).join(','), await platformFingerprint(client));
      }
      for (const version of [...versions].reverse().slice(1)) {
        assert.equal((await runCli(['rollback', '--to', version, '--yes', '--database-url', url, '--migrations', platform])).code, 0);
        rollbackReferences.set(versions.slice(0, versions.indexOf(version) + 1).join(','), await platformFingerprint(client));
      }
    });
    rollbackReferences.set(versions.join(','), references.get(versions.join(',')) as Fingerprint);

    const deployTimings: Timing[] = [];
    const rollbackTimings: Timing[] = [];
    for (let run = 0; run < CALIBRATION_RUNS; run += 1) {
      await withFreshDatabase(async (_client, url) => {
        deployTimings.push(await timeRun(['deploy', '--database-url', url, '--migrations', platform]));
        rollbackTimings.push(await timeRun(['rollback', '--to', versions[0], '--yes', '--database-url', url, '--migrations', platform]));
      });
    }
    deployTiming = longest(deployTimings);
    rollbackTiming = longest(rollbackTimings);
  });

  it(`${TRIALS} kills during deploy converge`, async (t) => {
    const random = randomSource(SEED);
    for (let trial = 1; trial <= TRIALS; trial += 1) {
      await withFreshDatabase(async (client, url) => {
        records.push(await runTrial(client, url, 'deploy', trial, ['deploy'], deployTiming, random, references));
      });
    }
    summarize(t, 'deploy', deployTiming);

    await withFreshDatabase(async (_client, url) => {
      assert.equal((await runCli(['deploy', '--database-url', url, '--migrations', platform])).code, 0);
      const full = await runCli(['test', '--database-url', url, '--migrations', platform], { timeoutMs: 300_000 });
      assert.equal(full.code, 0, `${full.stdout}\n${full.stderr}`);
    });
    const failed = records.filter((record) => record.phase === 'deploy' && record.failure);
    assert.deepEqual(failed.map((record) => `trial ${record.trial} (${record.anchor} +${record.delayMs} ms): ${record.failure}`), []);
    assert.ok(records.some((record) => record.phase === 'deploy' && record.killed), 'no trial killed the process while it ran');
  });

  it(`${TRIALS} kills during rollback converge`, async (t) => {
    const random = randomSource(SEED + 1);
    await withFreshDatabase(async (client, url) => {
      for (let trial = 1; trial <= TRIALS; trial += 1) {
        assert.equal((await runCli(['deploy', '--database-url', url, '--migrations', platform])).code, 0);
        records.push(await runTrial(client, url, 'rollback', trial, ['rollback', '--to', versions[0], '--yes'], rollbackTiming, random, rollbackReferences));
      }

      const full = await runCli(['test', '--database-url', url, '--migrations', platform], { timeoutMs: 300_000 });
      assert.equal(full.code, 0, `${full.stdout}\n${full.stderr}`);
    });
    summarize(t, 'rollback', rollbackTiming);

    const failed = records.filter((record) => record.phase === 'rollback' && record.failure);
    assert.deepEqual(failed.map((record) => `trial ${record.trial} (${record.anchor} +${record.delayMs} ms): ${record.failure}`), []);
    assert.ok(records.some((record) => record.phase === 'rollback' && record.killed), 'no trial killed the process while it ran');
  });
});
