import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';

import { Client } from 'pg';

import { OnevaultError } from '../../src/errors';
import { formatDifferences } from '../../src/fingerprint';
import { verifyMigrations } from '../../src/verify';
import type { MigrationProof, StepResult, VerifyOptions, VerifyReport, VerifyStep } from '../../src/verify';
import { MIGRATIONS_DIR, REPOSITORY_ROOT } from '../helpers/cli';
import { adminUrl } from '../helpers/database';

const FIXTURES_DIR = path.join(REPOSITORY_ROOT, 'test', 'fixtures', 'verify');

/** Scratch databases of these tests start with this, so that a leftover is easy to find. */
const SCRATCH_PREFIX = `${process.env.TEST_DATABASE_PREFIX ?? 'onevault_test_'}verify_`;

function verify(options: Partial<VerifyOptions> & { readonly migrationsDir: string }): Promise<VerifyReport> {
  return verifyMigrations({ adminUrl: adminUrl(), scratchDatabasePrefix: SCRATCH_PREFIX, ...options });
}

function fixture(name: string): string {
  return path.join(FIXTURES_DIR, name);
}

function proofOf(report: VerifyReport, version: string): MigrationProof {
  const proof = report.migrations.find((candidate) => candidate.version === version);
  assert.ok(proof, `no proof of ${version} in the report`);
  return proof;
}

function stepOf(proof: MigrationProof, step: VerifyStep): StepResult {
  const result = proof.steps.find((candidate) => candidate.step === step);
  assert.ok(result, `no step ${step} in the proof of ${proof.version}`);
  return result;
}

/** Returns the first failed step of a proof, with its differences as text, for assertion messages. */
function firstFailure(proof: MigrationProof): string {
  const failed = proof.steps.find((result) => result.status === 'FAILED');
  if (failed === undefined) return 'no failed step';
  return `${failed.step}: ${failed.error?.message ?? formatDifferences(failed.differences)}`;
}

async function scratchDatabasesLeft(): Promise<string[]> {
  const client = new Client({ connectionString: adminUrl() });
  await client.connect();
  try {
    const result = await client.query<{ datname: string }>('SELECT datname FROM pg_database WHERE starts_with(datname, $1)', [
      SCRATCH_PREFIX,
    ]);
    return result.rows.map((row) => row.datname);
  } finally {
    await client.end();
  }
}

describe('verifyMigrations', () => {
  it('passes the repository migrations', async () => {
    const report = await verify({ migrationsDir: MIGRATIONS_DIR });

    for (const proof of report.migrations) {
      assert.equal(proof.status, 'PASSED', `${proof.version}: ${firstFailure(proof)}`);
    }
    assert.equal(report.status, 'PASSED');
    assert.ok(report.migrations.length >= 2);
  });

  it('passes a migration with history', async () => {
    const report = await verify({ migrationsDir: fixture('passing-with-history') });

    for (const proof of report.migrations) {
      assert.equal(proof.status, 'PASSED', `${proof.version}: ${firstFailure(proof)}`);
      assert.deepEqual(
        proof.steps.map((result) => result.step),
        ['deploy', 'redeploy', 'redeploy as psql', 'rollback', 'rollback again', 'deploy after rollback'],
      );
    }
    assert.equal(report.status, 'PASSED');
  });

  it('reports history as informational', async () => {
    const report = await verify({ migrationsDir: fixture('passing-with-history') });

    const baseRollback = formatDifferences(stepOf(proofOf(report, 'V000'), 'rollback').informational);
    assert.match(baseRollback, /^\+ schema util \(\d+ objects inside\)$/m);

    const rollback = formatDifferences(stepOf(proofOf(report, 'V001'), 'rollback').informational);
    assert.match(rollback, /^\+ schema onevault_backup_v001 \(\d+ objects inside\)$/m);
    // Compared with the state before the first deploy: three deploys and one rollback ran since.
    // The log has no row of the psql run, because only the onevault tool records runs.
    assert.match(rollback, /^~ table util\.migration_log rows: 5 → 8 \(\+3\)$/m);
    assert.match(rollback, /^~ table audit\.event_r rows: 1 → 5 \(\+4\)$/m);
  });

  it('catches an INSERT that duplicates', async () => {
    const report = await verify({ migrationsDir: fixture('duplicate-insert') });

    assert.equal(report.status, 'FAILED');
    assert.equal(proofOf(report, 'V000').status, 'PASSED', firstFailure(proofOf(report, 'V000')));
    const redeploy = stepOf(proofOf(report, 'V001'), 'redeploy');
    assert.equal(redeploy.status, 'FAILED');
    assert.equal(stepOf(proofOf(report, 'V001'), 'deploy').status, 'PASSED');
    assert.match(formatDifferences(redeploy.differences), /^~ table fixture\.setting_r rows: 1 → 2 \(\+1\)$/m);
  });

  it('catches a rollback that forgets an index', async () => {
    const report = await verify({ migrationsDir: fixture('rollback-forgets-index') });

    const proof = proofOf(report, 'V001');
    assert.equal(stepOf(proof, 'redeploy').status, 'PASSED', firstFailure(proof));
    assert.equal(stepOf(proof, 'rollback').status, 'FAILED');
    assert.equal(formatDifferences(stepOf(proof, 'rollback').differences), '+ index fixture.idx_tenant_h_tenant_bk');
  });

  it('catches a rollback that keeps rows', async () => {
    const report = await verify({ migrationsDir: fixture('rollback-keeps-rows') });

    const rollback = stepOf(proofOf(report, 'V001'), 'rollback');
    assert.equal(rollback.status, 'FAILED');
    assert.match(formatDifferences(rollback.differences), /^~ table fixture\.tenant_h rows: 0 → 1 \(\+1\)$/m);
    assert.match(formatDifferences(rollback.differences), /"tenant_bk":"SYSTEM_OPERATIONS"/);
  });

  it('catches a rollback that wipes the audit trail', async () => {
    const report = await verify({ migrationsDir: fixture('rollback-wipes-audit') });

    assert.equal(report.status, 'FAILED');
    assert.equal(proofOf(report, 'V000').status, 'PASSED', firstFailure(proofOf(report, 'V000')));
    const proof = proofOf(report, 'V001');
    assert.equal(stepOf(proof, 'redeploy as psql').status, 'PASSED', firstFailure(proof));
    const rollback = stepOf(proof, 'rollback');
    assert.equal(rollback.status, 'FAILED');
    // Before the rollback: V000's event and one per deploy of V001 (deploy, redeploy, psql run).
    assert.equal(formatDifferences(rollback.differences).split('\n')[0], '~ table audit.event_r rows: 4 → 0 (-4)');
    assert.match(formatDifferences(rollback.differences), /"action":"DEPLOY V001"/);
  });

  it('catches a rollback that trims the migration log', async () => {
    const report = await verify({ migrationsDir: fixture('rollback-trims-migration-log') });

    const rollback = stepOf(proofOf(report, 'V001'), 'rollback');
    assert.equal(rollback.status, 'FAILED');
    const differences = formatDifferences(rollback.differences);
    assert.match(differences, /^~ table util\.migration_log rows: \d+ → \d+ \(\+1 -2\)$/m);
    assert.match(differences, /"version":"V001","name":"tenant_note","direction":"FORWARD"/);
  });

  it('passes history that only grows', async () => {
    const report = await verify({ migrationsDir: fixture('passing-with-history') });

    for (const proof of report.migrations) {
      for (const result of proof.steps) assert.equal(result.differences.length, 0, `${proof.version} ${result.step}: ${formatDifferences(result.differences)}`);
    }
  });

  it('catches a forgotten database setting', async () => {
    const report = await verify({ migrationsDir: fixture('forward-sets-database-setting') });

    const proof = proofOf(report, 'V001');
    assert.equal(stepOf(proof, 'deploy').status, 'PASSED');
    assert.equal(stepOf(proof, 'redeploy').status, 'PASSED', firstFailure(proof));
    const rollback = stepOf(proof, 'rollback');
    assert.equal(rollback.status, 'FAILED');
    assert.equal(formatDifferences(rollback.differences), '+ database settings for all roles');
  });

  it('catches a role-wide setting and attribute', async () => {
    const role = `${process.env.TEST_DATABASE_PREFIX ?? 'onevault_test_'}verify_role`;
    const directory = await fs.mkdtemp(path.join(os.tmpdir(), 'onevault-verify-role-'));
    const admin = new Client({ connectionString: adminUrl() });
    await admin.connect();
    try {
      await admin.query(`DROP ROLE IF EXISTS ${role}`);
      await admin.query(`CREATE ROLE ${role} NOLOGIN`);
      await fs.writeFile(path.join(directory, 'V000__create_base.sql'), 'CREATE SCHEMA IF NOT EXISTS fixture;\n');
      await fs.writeFile(path.join(directory, 'V000__rollback_base.sql'), 'DROP SCHEMA IF EXISTS fixture;\n');
      await fs.writeFile(path.join(directory, 'V001__create_role_path.sql'), `ALTER ROLE ${role} SET search_path = public;\nALTER ROLE ${role} CONNECTION LIMIT 3;\n`);
      await fs.writeFile(path.join(directory, 'V001__rollback_role_path.sql'), `ALTER ROLE ${role} RESET search_path;\nALTER ROLE ${role} CONNECTION LIMIT -1;\n`);

      const report = await verify({ migrationsDir: directory });

      assert.equal(proofOf(report, 'V000').status, 'PASSED', firstFailure(proofOf(report, 'V000')));
      const deploy = stepOf(proofOf(report, 'V001'), 'deploy');
      assert.equal(deploy.status, 'FAILED');
      const changes = formatDifferences(deploy.differences);
      assert.match(changes, new RegExp(`^~ role ${role}: connection limit -1 → 3$`, 'm'));
      assert.match(changes, new RegExp(`^\\+ role settings for role ${role} in every database$`, 'm'));
      assert.equal(report.status, 'FAILED');
    } finally {
      await admin.query(`DROP ROLE IF EXISTS ${role}`);
      await admin.end();
      await fs.rm(directory, { recursive: true, force: true });
    }
  });

  it('reports a created role without failing', async () => {
    const role = `${process.env.TEST_DATABASE_PREFIX ?? 'onevault_test_'}verify_new_role`;
    const directory = await fs.mkdtemp(path.join(os.tmpdir(), 'onevault-verify-new-role-'));
    const admin = new Client({ connectionString: adminUrl() });
    await admin.connect();
    try {
      await admin.query(`DROP ROLE IF EXISTS ${role}`);
      await fs.writeFile(path.join(directory, 'V000__create_base.sql'), 'CREATE SCHEMA IF NOT EXISTS fixture;\n');
      await fs.writeFile(path.join(directory, 'V000__rollback_base.sql'), 'DROP SCHEMA IF EXISTS fixture;\n');
      // Like V002: the role is created when missing and kept by the rollback, since other databases may use it.
      await fs.writeFile(
        path.join(directory, 'V001__create_app_role.sql'),
        `DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${role}') THEN CREATE ROLE ${role} NOLOGIN; END IF; END $$;\n`,
      );
      await fs.writeFile(path.join(directory, 'V001__rollback_app_role.sql'), 'SELECT 1;\n');

      const report = await verify({ migrationsDir: directory });

      const proof = proofOf(report, 'V001');
      assert.equal(proof.status, 'PASSED', firstFailure(proof));
      const deploy = stepOf(proof, 'deploy');
      assert.match(formatDifferences(deploy.informational), new RegExp(`^\\+ role ${role}$`, 'm'));
    } finally {
      await admin.query(`DROP ROLE IF EXISTS ${role}`);
      await admin.end();
      await fs.rm(directory, { recursive: true, force: true });
    }
  });

  it('catches a rollback that leaves a function', async () => {
    const report = await verify({ migrationsDir: fixture('rollback-leaves-function') });

    const rollback = stepOf(proofOf(report, 'V001'), 'rollback');
    assert.equal(rollback.status, 'FAILED');
    assert.equal(formatDifferences(rollback.differences), '+ function fixture.find_tenant(p_alias text)');
  });

  it('catches guarded DDL that is not idempotent', async () => {
    const report = await verify({ migrationsDir: fixture('guarded-ddl') });

    const proof = proofOf(report, 'V001');
    const redeploy = stepOf(proof, 'redeploy');
    assert.equal(stepOf(proof, 'deploy').status, 'PASSED');
    assert.equal(redeploy.status, 'FAILED');
    assert.equal(redeploy.error?.code, 'MIGRATION_FAILED');
    assert.match(redeploy.error?.message ?? '', /column "tenant_note" of relation "tenant_h" already exists/);
    assert.deepEqual(
      proof.steps.slice(2).map((result) => result.status),
      ['NOT RUN', 'NOT RUN', 'NOT RUN', 'NOT RUN'],
    );
  });

  it('applies earlier migrations with --from', async () => {
    const report = await verify({ migrationsDir: fixture('duplicate-insert'), from: 'V001' });

    assert.deepEqual(report.prepared, ['V000']);
    assert.deepEqual(
      report.migrations.map((proof) => proof.version),
      ['V001'],
    );
    assert.equal(stepOf(proofOf(report, 'V001'), 'redeploy').status, 'FAILED');
  });

  it('stops after the first failed migration', async () => {
    const report = await verify({ migrationsDir: fixture('duplicate-insert'), to: 'V001' });

    assert.equal(proofOf(report, 'V001').status, 'FAILED');
    assert.equal(report.migrations.length, 2);
  });

  it('rejects --from after --to', async () => {
    await assert.rejects(verify({ migrationsDir: fixture('duplicate-insert'), from: 'V001', to: 'V000' }), {
      code: 'INVALID_ARGUMENT',
    });
  });

  it('reports progress per step', async () => {
    const events: string[] = [];
    await verify({
      migrationsDir: fixture('rollback-keeps-rows'),
      from: 'V001',
      onProgress: (event) => {
        if (event.type === 'step-done') events.push(`${event.version} ${event.result.step} ${event.result.status}`);
        else events.push(event.type);
      },
    });

    assert.equal(events[0], 'scratch-created');
    assert.equal(events[1], 'prepare');
    assert.ok(events.includes('V001 rollback FAILED'), events.join('\n'));
    assert.equal(events[events.length - 1], 'scratch-dropped');
  });

  it('drops the scratch database when interrupted', async () => {
    const controller = new AbortController();
    const interrupted = verify({
      migrationsDir: fixture('passing-with-history'),
      signal: controller.signal,
      onProgress: (event) => {
        if (event.type === 'step-start' && event.step === 'rollback') controller.abort();
      },
    });

    await assert.rejects(interrupted, (error: unknown) => error instanceof OnevaultError && error.code === 'INTERRUPTED');
    assert.deepEqual(await scratchDatabasesLeft(), []);
  });

  it('leaves no scratch database behind', async () => {
    await verify({ migrationsDir: fixture('duplicate-insert') });

    assert.deepEqual(await scratchDatabasesLeft(), []);
  });
});

// Runs `onevault ARGS` through the CLI's own main(), with the verify command registered when the
// command list does not include it yet, and resolves with the exit code and output.
// NOTE: the registration fallback is needed only until src/cli/commands/index.ts registers verify.
const CLI_SCRIPT = `
const path = require('node:path');
const dist = process.env.ONEVAULT_DIST;
const commands = require(path.join(dist, 'src/cli/commands/index.js'));
const { registerVerifyCommand } = require(path.join(dist, 'src/cli/commands/verify.js'));
const registerAll = commands.registerCommands;
commands.registerCommands = (program) => {
  registerAll(program);
  if (!program.commands.some((command) => command.name() === 'verify')) registerVerifyCommand(program);
};
require(path.join(dist, 'src/cli/main.js')).main([process.argv[0], 'onevault', ...process.argv.slice(1)]);
`;

interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function runVerifyCli(args: readonly string[], onStderr?: (text: string, interrupt: () => void) => void): Promise<CliRun> {
  const env = { ...process.env, NO_COLOR: '1', ONEVAULT_DIST: path.resolve(__dirname, '..', '..') };
  const cliArgs = ['verify', '--database-url', adminUrl(), '--scratch-prefix', SCRATCH_PREFIX, ...args];

  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', CLI_SCRIPT, ...cliArgs], { cwd: REPOSITORY_ROOT, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
      onStderr?.(stderr, () => child.kill('SIGINT'));
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('onevault verify', () => {
  it('exits 0 for the repository migrations', async () => {
    const result = await runVerifyCli([]);

    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^V001 system_operations_tenant$/m);
    assert.match(result.stdout, /^ {2}rollback again \.+ ok \(/m);
    assert.match(result.stdout, /^verify: \d+ passed, 0 failed, 0 not run, in /m);
    assert.match(result.stderr, /^Dropped scratch database /m);
  });

  it('exits 3 and shows the difference', async () => {
    const result = await runVerifyCli(['--migrations', fixture('rollback-leaves-function')]);

    assert.equal(result.code, 3, result.stderr);
    assert.match(result.stdout, /^ {2}rollback \.+ not ok \(/m);
    assert.match(result.stdout, /^ {6}\+ function fixture\.find_tenant\(p_alias text\)$/m);
    assert.match(result.stdout, /^verify: 1 passed, 1 failed, 0 not run, in /m);
  });

  it('prints the report as JSON', async () => {
    const result = await runVerifyCli(['--json', '--from', 'V001', '--migrations', fixture('guarded-ddl')]);

    assert.equal(result.code, 3, result.stderr);
    const report = JSON.parse(result.stdout) as VerifyReport;
    assert.equal(report.status, 'FAILED');
    assert.deepEqual(report.prepared, ['V000']);
    const redeploy = report.migrations[0].steps[1];
    assert.equal(redeploy.step, 'redeploy');
    assert.equal(redeploy.error?.code, 'MIGRATION_FAILED');
  });

  it('exits 2 for an unknown version', async () => {
    const result = await runVerifyCli(['--from', 'V009', '--migrations', fixture('guarded-ddl')]);

    assert.equal(result.code, 2);
    assert.match(result.stderr, /error UNKNOWN_VERSION: There is no migration V009/);
  });

  it('drops the scratch database on SIGINT', async () => {
    let interrupted = false;
    const result = await runVerifyCli(['--migrations', fixture('passing-with-history')], (stderr, interrupt) => {
      if (!interrupted && stderr.includes('V001 tenant_setting: rollback')) {
        interrupted = true;
        interrupt();
      }
    });

    assert.ok(interrupted, result.stderr);
    assert.equal(result.code, 130, result.stderr);
    assert.match(result.stderr, /error INTERRUPTED: /);
    assert.match(result.stderr, /^Dropped scratch database /m);
    assert.deepEqual(await scratchDatabasesLeft(), []);
  });
});
