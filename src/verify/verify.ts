import type { ClientBase, ClientConfig } from 'pg';

import { asOnevaultError } from '../apply/deploy';
import { findMigration } from '../apply/plan';
import { runMigrationFile } from '../apply/run-migration';
import { OnevaultError } from '../errors';
import { diffFingerprints, readClusterRoles, takeFingerprint } from '../fingerprint';
import type { Fingerprint, FingerprintDifference } from '../fingerprint';
import { loadMigrations, normalizeVersion } from '../migrations/catalog';
import type { Direction, Migration } from '../migrations/catalog';
import { compareStates } from './history-split';
import { DEFAULT_SCRATCH_PREFIX, withScratchDatabase } from './scratch-database';

/**
 * Steps of the proof of one migration, in the order they run:
 * - `deploy`: the forward file applies through the engine;
 * - `redeploy`: applying it again through the engine changes nothing;
 * - `redeploy as psql`: executing it again as psql would (no onevault session settings) changes nothing;
 * - `rollback`: the rollback file restores the state from before `deploy`;
 * - `rollback again`: running the rollback a second time succeeds and changes nothing;
 * - `deploy after rollback`: applying the forward file again restores the state after `deploy`.
 */
export type VerifyStep = 'deploy' | 'redeploy' | 'redeploy as psql' | 'rollback' | 'rollback again' | 'deploy after rollback';

export const VERIFY_STEPS: readonly VerifyStep[] = [
  'deploy',
  'redeploy',
  'redeploy as psql',
  'rollback',
  'rollback again',
  'deploy after rollback',
];

export type ProofStatus = 'PASSED' | 'FAILED' | 'NOT RUN';

export interface StepResult {
  readonly step: VerifyStep;
  readonly status: ProofStatus;
  readonly durationMs: number;
  /**
   * Differences from the expected state, rows the step removed from history tables, and changes to
   * roles, role memberships and role settings outside the scratch database. Any one fails the step.
   */
  readonly differences: readonly FingerprintDifference[];
  /** Other changes to history tables, backup schemas and extensions, which never fail a step. */
  readonly informational: readonly FingerprintDifference[];
  /** Error of the migration file, when it failed to run. */
  readonly error?: OnevaultError;
}

export interface MigrationProof {
  readonly version: string;
  readonly name: string;
  readonly status: ProofStatus;
  readonly steps: readonly StepResult[];
}

export interface VerifyReport {
  readonly status: 'PASSED' | 'FAILED';
  /** Throwaway database the proof ran in; it no longer exists when the report is returned. */
  readonly scratchDatabase: string;
  /** Migrations applied without proof before the first proven one (`from`). */
  readonly prepared: readonly string[];
  readonly migrations: readonly MigrationProof[];
  readonly durationMs: number;
  /** Number of fingerprints taken and the time they took, in milliseconds. */
  readonly fingerprints: { readonly count: number; readonly totalMs: number; readonly maxMs: number };
}

export type VerifyEvent =
  | { readonly type: 'scratch-created'; readonly database: string }
  | { readonly type: 'scratch-dropped'; readonly database: string }
  | { readonly type: 'scratch-drop-failed'; readonly database: string; readonly error: OnevaultError }
  | { readonly type: 'prepare'; readonly version: string; readonly name: string }
  | { readonly type: 'step-start'; readonly version: string; readonly name: string; readonly step: VerifyStep }
  | { readonly type: 'step-done'; readonly version: string; readonly name: string; readonly result: StepResult }
  | { readonly type: 'migration-done'; readonly proof: MigrationProof };

export interface VerifyOptions {
  /** URL, or node-postgres settings, of any database on the server; used only to create and drop the scratch database. */
  readonly adminUrl: string | ClientConfig;
  readonly migrationsDir: string;
  /** First migration to prove (`V001`, `1`…); earlier ones are applied without proof. Default: the first. */
  readonly from?: string;
  /** Last migration to prove. Default: the last. */
  readonly to?: string;
  /** Start of the scratch database name. Default `onevault_verify_`. */
  readonly scratchDatabasePrefix?: string;
  /** Aborting it cancels the running statement, drops the scratch database and throws `INTERRUPTED`. */
  readonly signal?: AbortSignal;
  readonly onProgress?: (event: VerifyEvent) => void;
}

/**
 * Proves each migration from `from` to `to` idempotent and rollback-ready in a throwaway database
 * on the same server, never in the target database. For each migration it runs the steps of
 * `VerifyStep` and compares fingerprints; `compareStates` lists the changes that only count as
 * informational. History may only grow: a step that removes rows from `util.migration_log` or an
 * `audit.*` table fails. A step that changes roles, role memberships or role settings outside the
 * scratch database fails too, because dropping the scratch database does not undo them.
 *
 * Returns a report whose status is FAILED when a step failed. The first failed migration stops
 * the proof, and later ones are NOT RUN because they would start from an unexpected state. Throws for faults found before the proof (bad folder, unknown version), when a
 * migration before `from` fails to apply, when the scratch database cannot be created or dropped,
 * and `INTERRUPTED` when `signal` aborts. The scratch database is dropped in every case.
 *
 * @example
 * const report = await verifyMigrations({ adminUrl: 'postgres://postgres@127.0.0.1:5432/postgres', migrationsDir: 'migrations' });
 * if (report.status === 'FAILED') console.log(report.migrations.filter((proof) => proof.status === 'FAILED'));
 */
export async function verifyMigrations(options: VerifyOptions): Promise<VerifyReport> {
  const started = Date.now();
  const migrations = await loadMigrations(options.migrationsDir);
  const { earlier, proven } = selectMigrations(migrations, options.from, options.to);

  const admin: ClientConfig = typeof options.adminUrl === 'string' ? { connectionString: options.adminUrl } : options.adminUrl;
  const progress = options.onProgress ?? (() => undefined);
  const timer = new FingerprintTimer();

  const hooks = {
    onCreated: (database: string) => progress({ type: 'scratch-created', database }),
    onDropped: (database: string) => progress({ type: 'scratch-dropped', database }),
    onDropFailed: (database: string, error: OnevaultError) => progress({ type: 'scratch-drop-failed', database, error }),
  };

  return withScratchDatabase(admin, options.scratchDatabasePrefix ?? DEFAULT_SCRATCH_PREFIX, hooks, async (scratch) => {
    const context: ProofContext = { client: scratch.client, cancelConfig: scratch.config, options, timer, progress };
    try {
      return await proveAll(context, scratch.name, earlier, proven, started);
    } catch (error) {
      // The cancel request that an abort sends can reach the server after the migration file
      // finished and end the fingerprint query that follows instead.
      if (options.signal?.aborted === true && !(error instanceof OnevaultError && error.code === 'INTERRUPTED')) {
        throw new OnevaultError('INTERRUPTED', 'verify was interrupted.', {
          hint: 'The scratch database is dropped and the target database was never changed. Run verify again when ready.',
          cause: error,
        });
      }
      throw error;
    }
  });
}

async function proveAll(
  context: ProofContext,
  scratchDatabase: string,
  earlier: readonly Migration[],
  proven: readonly Migration[],
  started: number,
): Promise<VerifyReport> {
  const { options, progress, timer } = context;

  for (const migration of earlier) {
    throwIfAborted(options.signal, migration);
    progress({ type: 'prepare', version: migration.version, name: migration.name });
    await runFile(context, migration, 'FORWARD', 'tool');
  }

  const proofs: MigrationProof[] = [];
  // The state after one proof's last step is the state before the next proof, so it is reused
  // instead of being fingerprinted twice.
  let currentState: Fingerprint | undefined;
  for (const migration of proven) {
    const previousFailed = proofs.some((proof) => proof.status !== 'PASSED');
    let proof: MigrationProof;
    if (previousFailed) {
      proof = notRunProof(migration);
    } else {
      const outcome = await proveMigration(context, migration, currentState);
      proof = outcome.proof;
      currentState = outcome.finalState;
    }
    proofs.push(proof);
    progress({ type: 'migration-done', proof });
  }

  return {
    status: proofs.every((proof) => proof.status === 'PASSED') ? 'PASSED' : 'FAILED',
    scratchDatabase,
    prepared: earlier.map((migration) => migration.version),
    migrations: proofs,
    durationMs: Date.now() - started,
    fingerprints: timer.summary(),
  };
}

interface ProofContext {
  readonly client: ClientBase;
  readonly cancelConfig: ClientConfig;
  readonly options: VerifyOptions;
  readonly timer: FingerprintTimer;
  readonly progress: (event: VerifyEvent) => void;
}

/** Fingerprints that later steps compare against. */
interface ReferenceStates {
  beforeDeploy?: Fingerprint;
  afterDeploy?: Fingerprint;
  afterRollback?: Fingerprint;
}

/** Migration file and mode of each step, and the reference state its result must equal. */
const STEP_PLAN: Readonly<
  Record<VerifyStep, { direction: Direction; mode: 'tool' | 'psql'; expected: keyof ReferenceStates | null; records?: keyof ReferenceStates }>
> = {
  deploy: { direction: 'FORWARD', mode: 'tool', expected: null, records: 'afterDeploy' },
  redeploy: { direction: 'FORWARD', mode: 'tool', expected: 'afterDeploy' },
  'redeploy as psql': { direction: 'FORWARD', mode: 'psql', expected: 'afterDeploy' },
  rollback: { direction: 'ROLLBACK', mode: 'tool', expected: 'beforeDeploy', records: 'afterRollback' },
  'rollback again': { direction: 'ROLLBACK', mode: 'tool', expected: 'afterRollback' },
  'deploy after rollback': { direction: 'FORWARD', mode: 'tool', expected: 'afterDeploy' },
};

/** A proof and the fingerprint after its last step, when every step ran. */
interface ProofOutcome {
  readonly proof: MigrationProof;
  readonly finalState: Fingerprint | undefined;
}

async function proveMigration(context: ProofContext, migration: Migration, startState: Fingerprint | undefined): Promise<ProofOutcome> {
  const references: ReferenceStates = { beforeDeploy: startState ?? (await context.timer.take(context.client)) };
  const steps: StepResult[] = [];
  let finalState: Fingerprint | undefined;
  let previousState: Fingerprint | undefined = references.beforeDeploy;

  for (const step of VERIFY_STEPS) {
    // A file that failed to run leaves the database as it was, but the later steps expect its
    // effect, so they would only repeat the failure.
    if (steps.some((result) => result.error !== undefined)) {
      steps.push(notRunStep(step));
      continue;
    }

    throwIfAborted(context.options.signal, migration);
    context.progress({ type: 'step-start', version: migration.version, name: migration.name, step });
    const { result, state } = await runStep(context, migration, step, references, previousState);
    finalState = state;
    previousState = state;
    steps.push(result);
    context.progress({ type: 'step-done', version: migration.version, name: migration.name, result });
  }

  const status = steps.every((result) => result.status === 'PASSED') ? 'PASSED' : 'FAILED';
  return { proof: { version: migration.version, name: migration.name, status, steps }, finalState };
}

/** Runs one step; `state` is the fingerprint taken after it, absent when its file failed. */
async function runStep(
  context: ProofContext,
  migration: Migration,
  step: VerifyStep,
  references: ReferenceStates,
  beforeStep: Fingerprint | undefined,
): Promise<{ readonly result: StepResult; readonly state?: Fingerprint }> {
  const plan = STEP_PLAN[step];
  const started = Date.now();
  const rolesBefore = await readClusterRoles(context.client);

  try {
    await runFile(context, migration, plan.direction, plan.mode);
  } catch (error) {
    const failure = asOnevaultError(error, migration.version);
    if (failure.code === 'INTERRUPTED') throw failure;
    // A failed file is rolled back, but CREATE ROLE and ALTER ROLE commit on their own when the
    // file runs them outside a transaction block, so the cluster is compared here too.
    const roleChanges = diffFingerprints(rolesBefore, await readClusterRoles(context.client));
    return { result: { step, status: 'FAILED', durationMs: Date.now() - started, differences: roleChanges, informational: [], error: failure } };
  }

  // Roles, memberships and role-wide settings belong to the cluster: the scratch database does not
  // contain them and dropping it does not undo them, so a change to them fails the step. Creating a
  // role that did not exist is reported but passes, because a first deploy on a new server must.
  const { failing: roleChanges, informational: newRoles } = splitRoleChanges(diffFingerprints(rolesBefore, await readClusterRoles(context.client)));
  const state = await context.timer.take(context.client);
  if (plan.records !== undefined) references[plan.records] = state;

  const expected = plan.expected === null ? undefined : references[plan.expected];
  const comparison = compareStates(expected, state, beforeStep);
  const differences = [...roleChanges, ...comparison.differences];
  const result: StepResult = {
    step,
    status: differences.length === 0 ? 'PASSED' : 'FAILED',
    durationMs: Date.now() - started,
    differences,
    informational: [...newRoles, ...comparison.informational],
  };
  return { result, state };
}

/**
 * Splits cluster role changes into those that fail a step and the creation of new roles, with
 * their memberships and settings, which is only reported.
 */
function splitRoleChanges(changes: readonly FingerprintDifference[]): { readonly failing: FingerprintDifference[]; readonly informational: FingerprintDifference[] } {
  const createdRoles = new Set(changes.filter((change) => change.kind === 'role' && change.change === 'added').map((change) => change.name));
  const involvesCreatedRole = (change: FingerprintDifference): boolean => {
    if (change.change !== 'added') return false;
    if (change.kind === 'role') return true;
    const names = change.name.match(/"(?:[^"]|"")+"|[^\s"]+/g) ?? [];
    return names.some((name) => createdRoles.has(name.replace(/^"|"$/g, '').replace(/""/g, '"')));
  };

  const failing: FingerprintDifference[] = [];
  const informational: FingerprintDifference[] = [];
  for (const change of changes) (involvesCreatedRole(change) ? informational : failing).push(change);
  return { failing, informational };
}

async function runFile(context: ProofContext, migration: Migration, direction: Direction, mode: 'tool' | 'psql'): Promise<void> {
  await runMigrationFile(context.client, migration, direction, {
    mode,
    signal: context.options.signal,
    cancelConfig: context.cancelConfig,
  });
}

function selectMigrations(
  migrations: readonly Migration[],
  from: string | undefined,
  to: string | undefined,
): { earlier: Migration[]; proven: Migration[] } {
  const first = from === undefined ? migrations[0] : findMigration(migrations, normalizeVersion(from));
  const last = to === undefined ? migrations[migrations.length - 1] : findMigration(migrations, normalizeVersion(to));
  if (first === undefined || last === undefined) {
    return { earlier: [], proven: [] };
  }
  if (first.number > last.number) {
    throw new OnevaultError('INVALID_ARGUMENT', `--from ${first.version} comes after --to ${last.version}.`, {
      hint: 'Give a --from version that is equal to or lower than --to.',
    });
  }

  return {
    earlier: migrations.filter((migration) => migration.number < first.number),
    proven: migrations.filter((migration) => migration.number >= first.number && migration.number <= last.number),
  };
}

function throwIfAborted(signal: AbortSignal | undefined, migration: Migration): void {
  if (signal?.aborted !== true) return;
  throw new OnevaultError('INTERRUPTED', `verify was interrupted before the next step of ${migration.version}.`, {
    hint: 'The scratch database is dropped; the target database was never changed. Run verify again when ready.',
    version: migration.version,
  });
}

function notRunStep(step: VerifyStep): StepResult {
  return { step, status: 'NOT RUN', durationMs: 0, differences: [], informational: [] };
}

function notRunProof(migration: Migration): MigrationProof {
  return { version: migration.version, name: migration.name, status: 'NOT RUN', steps: VERIFY_STEPS.map(notRunStep) };
}

/** Takes fingerprints and keeps count of how long they take. */
class FingerprintTimer {
  private count = 0;
  private totalMs = 0;
  private maxMs = 0;

  async take(client: ClientBase): Promise<Fingerprint> {
    const started = Date.now();
    const fingerprint = await takeFingerprint(client);
    const elapsedMs = Date.now() - started;

    this.count += 1;
    this.totalMs += elapsedMs;
    this.maxMs = Math.max(this.maxMs, elapsedMs);
    return fingerprint;
  }

  summary(): VerifyReport['fingerprints'] {
    return { count: this.count, totalMs: this.totalMs, maxMs: this.maxMs };
  }
}
