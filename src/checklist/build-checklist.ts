import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import type { ClientBase, ClientConfig } from 'pg';

import { findPostgresTool, type FindToolOptions } from '../backup/find-postgres-tool';
import { runProgram } from '../backup/run-program';
import { connectClient } from '../connection/connect';
import type { CheckGroupName, CheckStatus, DeploymentTestEvent, DeploymentTestReport } from '../deployment-tests/check-result';
import { runDeploymentTests } from '../deployment-tests/run-deployment-tests';
import { SYSTEM_OPERATIONS } from '../deployment-tests/system-operations';
import { checkHealth } from '../health/check-health';
import type { HealthReport, HealthStatus } from '../health/health-report';
import { FUNCTION_VALUE_QUERY, ROLE_PERMISSIONS_QUERY, SYSTEM_PROFILE_QUERY, SYSTEM_TENANT_QUERY } from '../health/read-system-objects';
import { API_EXECUTE_QUERY, TENANT_POLICIES_QUERY } from '../health/compare-isolation';
import { TENANT_TABLES_QUERY } from '../health/read-tenant-isolation';
import { loadMigrations, type Migration } from '../migrations/catalog';
import { readMigrationRuns, type MigrationRun } from '../migrations/history';
import type { Checklist, ChecklistItem, ChecklistItemStatus, ChecklistSection, Evidence } from './checklist';

export interface ChecklistOptions {
  /** Settings that connect to the deployed database. */
  readonly config: ClientConfig;
  readonly migrationsDir: string;
  /** A backup file taken before the deployment; it is verified with pg_restore --list when given. */
  readonly backupFile?: string;
  /** Values of DB_HOST, DB_NAME and DB_USER to report; the process environment when absent. */
  readonly env?: NodeJS.ProcessEnv;
  readonly signal?: AbortSignal;
  readonly onEvent?: (event: DeploymentTestEvent) => void;
  readonly findTool?: FindToolOptions;
}

export const PREREQUISITE_QUERY = `SELECT schema_name FROM information_schema.schemata WHERE schema_name IN ('auth', 'util')`;
export const CLEAN_ROLLBACK_QUERY = `SELECT COUNT(*) FROM auth.tenant_h WHERE tenant_bk = 'SYSTEM_OPERATIONS'`;
const AUDIT_EVENT_QUERY = `SELECT count(*) FROM audit.audit_detail_s WHERE event_type = 'MIGRATION' AND action = 'DEPLOY V001' AND outcome = 'SUCCESS'`;

/** NOTICE lines that V001 prints on a first, successful run, as the package lists them. */
export const EXPECTED_V001_OUTPUT = [
  '🚀 Starting migration V001: System Operations Tenant',
  '📋 Prerequisites Check:',
  '   Auth Schema: ✅ EXISTS',
  '   Util Functions: ✅ EXISTS',
  '   Tenant Table: ✅ EXISTS',
  '✅ Created System Operations Tenant Hub',
  '✅ Created System Operations Tenant Profile',
  '✅ Created System Operations Role',
  '✅ Created System Operations Indexes',
  '✅ Created System Operations Utility Function',
  '🎉 Migration V001 completed successfully!',
];

/**
 * Builds the deployment checklist of the System Operations package for a deployed database. It
 * runs the deployment test suite (scratch copies included), the health checks and the package's
 * validation queries, and marks each item it could check as verified or failed with its evidence.
 * Items that need a person stay open. Never modifies the target. Throws only when the database
 * cannot be reached, the migrations folder cannot be read, or the run is interrupted.
 */
export async function buildChecklist(options: ChecklistOptions): Promise<Checklist> {
  const migrations = await loadMigrations(options.migrationsDir);
  const tests = await runDeploymentTests({ config: options.config, migrationsDir: options.migrationsDir, signal: options.signal, onEvent: options.onEvent, findTool: options.findTool });

  const client = await connectClient(options.config, 'target database');
  try {
    await client.query('SET default_transaction_read_only = on');
    const facts = await readFacts(client);
    const health = await checkHealth(client);
    const backup = options.backupFile === undefined ? undefined : await verifyBackupFile(options.backupFile, facts.serverMajor, options.findTool);
    const v001 = migrations.find((migration) => migration.version === SYSTEM_OPERATIONS.version);

    const sections: ChecklistSection[] = [
      environmentSection(facts, options.env ?? process.env),
      prerequisitesSection(facts, tests),
      backupSection(backup),
      scriptReviewSection(v001, tests),
      executionSection(facts, tests),
      automatedTestsSection(tests),
      manualValidationSection(health),
      rollbackTestingSection(tests),
      healthSection(health),
      successCriteriaSection(facts, tests),
      emergencySection(facts),
    ];
    const all = sections.flatMap((section) => section.items);
    return {
      database: facts.database,
      serverVersion: facts.serverVersion,
      generatedAt: new Date(),
      sections,
      summary: {
        verified: all.filter((item) => item.status === 'verified').length,
        failed: all.filter((item) => item.status === 'failed').length,
        open: all.filter((item) => item.status === 'open').length,
      },
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}

interface DatabaseFacts {
  readonly database: string;
  readonly user: string;
  readonly serverVersion: string;
  readonly serverMajor: number;
  readonly serverAddress: string;
  readonly schemas: readonly string[];
  readonly v001Run: string | null;
  readonly v001Succeeded: boolean;
  readonly systemTenantCount: number | null;
  readonly auditEvents: number | null;
}

/** Returns true for a row written by onevault repair, which corrects a recorded checksum and deploys nothing. */
function isRepairRun(run: MigrationRun): boolean {
  const details = run.details as { readonly repair?: unknown } | null;
  return details !== null && typeof details === 'object' && String(details.repair) === 'true';
}

async function readFacts(client: ClientBase): Promise<DatabaseFacts> {
  const server = (
    await client.query<{ database: string; user: string; version: string; version_num: string; address: string | null; port: number | null }>(
      `SELECT current_database() AS database, current_user AS user, current_setting('server_version') AS version,
              current_setting('server_version_num') AS version_num, host(inet_server_addr()) AS address, inet_server_port() AS port`,
    )
  ).rows[0];
  const schemas = (await client.query<{ schema_name: string }>(PREREQUISITE_QUERY)).rows.map((row) => row.schema_name).sort();

  const runs = await readMigrationRuns(client);
  const lastV001 = [...runs].reverse().find((run) => run.version === SYSTEM_OPERATIONS.version && run.status !== 'RUNNING' && !isRepairRun(run));
  const v001Run = lastV001 ? `${lastV001.direction} ${lastV001.status} at ${(lastV001.finishedAt ?? lastV001.startedAt).toISOString()} by ${lastV001.executedBy} via ${lastV001.executedVia}` : null;

  const hasTable = async (name: string): Promise<boolean> => (await client.query<{ present: boolean }>('SELECT to_regclass($1) IS NOT NULL AS present', [name])).rows[0].present;
  const systemTenantCount = (await hasTable('auth.tenant_h')) ? Number((await client.query<{ count: string }>(CLEAN_ROLLBACK_QUERY)).rows[0].count) : null;
  const auditEvents = (await hasTable('audit.audit_detail_s')) ? Number((await client.query<{ count: string }>(AUDIT_EVENT_QUERY)).rows[0].count) : null;

  return {
    database: server.database,
    user: server.user,
    serverVersion: server.version,
    serverMajor: Math.floor(Number(server.version_num) / 10_000),
    serverAddress: server.address ? `${server.address}:${server.port}` : 'local socket',
    schemas,
    v001Run,
    v001Succeeded: lastV001?.direction === 'FORWARD' && lastV001.status === 'SUCCESS',
    systemTenantCount,
    auditEvents,
  };
}

interface BackupVerification {
  readonly file: string;
  readonly ok: boolean;
  readonly value: string;
}

async function verifyBackupFile(file: string, serverMajor: number, findTool: FindToolOptions | undefined): Promise<BackupVerification> {
  const stat = await fs.stat(file).catch(() => undefined);
  if (!stat) return { file, ok: false, value: 'file not found' };

  const pgRestore = await findPostgresTool('pg_restore', serverMajor, findTool);
  const listing = await runProgram(pgRestore.path, ['--list', file]);
  if (listing.exitCode !== 0) return { file, ok: false, value: `pg_restore --list failed: ${listing.stderr}` };

  const entries = listing.stdout.split('\n').filter((line) => line.trim() !== '' && !line.startsWith(';')).length;
  const sha256 = createHash('sha256').update(await fs.readFile(file)).digest('hex');
  return { file, ok: true, value: `${stat.size} bytes, ${entries} archive entries, sha256 ${sha256}, written ${stat.mtime.toISOString()}` };
}

const ITEM_STATUS_OF_CHECK: Readonly<Record<CheckStatus, ChecklistItemStatus>> = { PASSED: 'verified', FAILED: 'failed', ERROR: 'failed', SKIPPED: 'open' };

/** A warning needs a person's judgement, so it leaves the item open. */
const ITEM_STATUS_OF_FINDING: Readonly<Record<HealthStatus, ChecklistItemStatus>> = { ok: 'verified', warning: 'open', critical: 'failed' };

function item(title: string, status: ChecklistItem['status'], evidence: readonly Evidence[] = [], instructions?: string): ChecklistItem {
  return { title, status, evidence, instructions };
}

/** Turns one result of the deployment test suite into a checklist item. A SKIPPED check stays open. */
function fromCheck(tests: DeploymentTestReport, checkName: string, title: string, instructions?: string): ChecklistItem {
  const result = tests.checks.find((check) => check.name === checkName);
  if (!result) return item(title, 'open', [], instructions ?? `The deployment test "${checkName}" was not run; run onevault test.`);
  const status = ITEM_STATUS_OF_CHECK[result.status];
  return item(title, status, [{ source: `onevault test: ${result.group} / ${result.name}`, value: `${result.status}: ${result.details}` }], status === 'verified' ? undefined : instructions);
}

/** Verified when every check of the groups passed, failed when one failed or ended in ERROR, open otherwise. */
function fromGroups(tests: DeploymentTestReport, groups: readonly CheckGroupName[], title: string): ChecklistItem {
  const results = tests.checks.filter((check) => groups.includes(check.group));
  const bad = results.filter((check) => check.status === 'FAILED' || check.status === 'ERROR');
  let status: ChecklistItemStatus = 'open';
  if (bad.length > 0) status = 'failed';
  else if (results.length > 0 && results.every((check) => check.status === 'PASSED')) status = 'verified';
  const value = bad.length > 0 ? bad.map((check) => `${check.name}: ${check.status}: ${check.details}`).join(' | ') : `${results.filter((check) => check.status === 'PASSED').length} of ${results.length} checks passed`;
  return item(title, status, [{ source: `onevault test --group ${groups.map((group) => `"${group}"`).join(' ')}`, value }]);
}

function environmentSection(facts: DatabaseFacts, env: NodeJS.ProcessEnv): ChecklistSection {
  const variables = ['DB_HOST', 'DB_NAME', 'DB_USER'].map((name) => `${name}=${env[name] ?? '(unset)'}`).join(' ');
  return {
    title: 'Environment validation',
    items: [
      item('Connected to the intended server and database', 'verified', [
        { source: 'SELECT current_database(), current_user, inet_server_addr(), inet_server_port()', value: `database ${facts.database}, user ${facts.user}, server ${facts.serverAddress}` },
        { source: 'echo $DB_HOST $DB_NAME $DB_USER', value: variables },
      ], undefined),
      item('The target is the environment named in the change request', 'open', [], 'Compare the database, user and server above with the change request before going on.'),
    ],
  };
}

function prerequisitesSection(facts: DatabaseFacts, tests: DeploymentTestReport): ChecklistSection {
  const hasBoth = facts.schemas.includes('auth') && facts.schemas.includes('util');
  return {
    title: 'Prerequisites',
    items: [
      item('Schemas auth and util exist', hasBoth ? 'verified' : 'failed', [{ source: PREREQUISITE_QUERY, value: facts.schemas.join(', ') || 'no rows' }], hasBoth ? undefined : 'Deploy V000 (platform foundation) first: onevault deploy --to V000.'),
      fromCheck(tests, 'server version is supported', 'Server version is supported'),
      fromCheck(tests, 'platform tables exist', 'Platform tables of V000 exist'),
      fromCheck(tests, 'platform functions exist', 'Platform functions of V000 exist'),
      fromCheck(tests, 'pgcrypto is installed', 'Extension pgcrypto is installed'),
    ],
  };
}

function backupSection(backup: BackupVerification | undefined): ChecklistSection {
  if (!backup) {
    return {
      title: 'Backup',
      items: [
        item('Full backup created before the deployment', 'open', [], 'Run onevault backup --out FILE (or deploy with --backup FILE), then run onevault checklist --backup FILE so that the backup is verified here.'),
        item('Backup verified', 'open', [], 'pg_restore --list FILE must list the archive entries without an error.'),
      ],
    };
  }
  return {
    title: 'Backup',
    items: [
      item('Full backup created before the deployment', backup.ok ? 'verified' : 'failed', [{ source: `ls -l ${backup.file}`, value: backup.ok ? backup.value.split(', sha256')[0] : backup.value }]),
      item('Backup verified', backup.ok ? 'verified' : 'failed', [{ source: `pg_restore --list ${backup.file}`, value: backup.value }], backup.ok ? undefined : 'Take a new backup with onevault backup before deploying.'),
      item('Backup was taken before V001 ran', 'open', [], 'Compare the time the backup was written with the time V001 ran (Execution section).'),
    ],
  };
}

function scriptReviewSection(v001: Migration | undefined, tests: DeploymentTestReport): ChecklistSection {
  const files = v001
    ? item('Forward and rollback scripts of V001 are present', 'verified', [
        { source: `sha256sum ${v001.forward.fileName}`, value: v001.forward.checksum },
        { source: `sha256sum ${v001.rollback.fileName}`, value: v001.rollback.checksum },
      ])
    : item('Forward and rollback scripts of V001 are present', 'failed', [], 'The migrations folder has no V001 pair.');
  return {
    title: 'Migration and rollback script review',
    items: [
      files,
      fromCheck(tests, 'applied files match their checksums', 'Applied scripts are unchanged since they ran', 'No applied run recorded a checksum (runs made with psql record none), so nothing was compared. A person compares the applied files with the reviewed ones and signs below.'),
      item('Forward script reviewed: idempotent, backwards compatible, prerequisite checks stop the run', 'open', [], 'A second person reads the forward script and signs below.'),
      item('Rollback script reviewed: dependency checks reject, rows are backed up before removal', 'open', [], 'A second person reads the rollback script and signs below.'),
    ],
  };
}

function executionSection(facts: DatabaseFacts, tests: DeploymentTestReport): ChecklistSection {
  return {
    title: 'Execution',
    items: [
      item('V001 executed successfully', facts.v001Succeeded ? 'verified' : 'failed', [{ source: `SELECT direction, status, finished_at, executed_by, executed_via FROM util.migration_log WHERE version = 'V001' AND details->>'repair' IS DISTINCT FROM 'true' ORDER BY migration_log_id DESC LIMIT 1`, value: facts.v001Run ?? 'no run recorded' }], facts.v001Succeeded ? undefined : 'Deploy V001: onevault deploy.'),
      fromCheck(tests, 'no run is left RUNNING', 'No migration run is left RUNNING'),
      item('Output matched the expected success output', 'open', [{ source: 'expected NOTICE lines', value: EXPECTED_V001_OUTPUT.join(' / ') }], 'Compare the output of the deployment with these lines. A re-run prints "already exists" lines instead of "Created".'),
    ],
  };
}

function automatedTestsSection(tests: DeploymentTestReport): ChecklistSection {
  const summary = tests.summary;
  const failing = tests.checks.filter((check) => check.status === 'FAILED' || check.status === 'ERROR').map((check) => `${check.group} / ${check.name}`);
  return {
    title: 'Automated tests',
    items: [
      item(
        'Deployment test suite passes',
        summary.overallStatus === 'PASSED' ? 'verified' : 'failed',
        [{ source: 'onevault test', value: `total ${summary.total}, passed ${summary.passed}, failed ${summary.failed}, errors ${summary.errors}, skipped ${summary.skipped}, success rate ${summary.successRate.toFixed(2)}% (SKIPPED left out), overall ${summary.overallStatus}${failing.length > 0 ? `; not passed: ${failing.join(', ')}` : ''}` }],
        summary.overallStatus === 'PASSED' ? undefined : 'Follow "If tests fail" under Emergency procedures.',
      ),
    ],
  };
}

function healthFinding(health: HealthReport, name: string, title: string, source: string): ChecklistItem {
  const finding = health.findings.find((candidate) => candidate.name === name);
  if (!finding) return item(title, 'open', [], `The health finding "${name}" is missing; run onevault health.`);
  return item(title, ITEM_STATUS_OF_FINDING[finding.status], [{ source, value: `${finding.status}: ${finding.summary}` }]);
}

function manualValidationSection(health: HealthReport): ChecklistSection {
  return {
    title: 'Manual validation',
    items: [
      healthFinding(health, 'system tenant', 'System tenant row exists with the fixed key', SYSTEM_TENANT_QUERY),
      healthFinding(health, 'system tenant profile', 'System tenant profile has the package values (name, SYSTEM, ACTIVE, active, 999 users)', SYSTEM_PROFILE_QUERY),
      healthFinding(health, 'system tenant function', 'Utility function returns the system tenant key', FUNCTION_VALUE_QUERY),
      healthFinding(health, 'system role permissions', 'System role has its six permissions', ROLE_PERMISSIONS_QUERY),
      item('A person ran the validation queries and confirms the objects', 'open', [], 'Run the four queries above in psql or pgAdmin and compare the values.'),
    ],
  };
}

function rollbackTestingSection(tests: DeploymentTestReport): ChecklistSection {
  return {
    title: 'Rollback testing (in a scratch copy, never in production)',
    items: [
      fromCheck(tests, 'V001 rollback succeeds', 'Rollback script runs'),
      fromCheck(tests, 'rollback removes every V001 object', `Clean rollback: ${CLEAN_ROLLBACK_QUERY} returns 0 and every V001 object is gone`),
      fromCheck(tests, 'removed rows are backed up', 'Removed rows are kept in a backup schema'),
      fromCheck(tests, 'redeploy restores the state', 'Re-deploy succeeds cleanly'),
    ],
  };
}

function healthSection(health: HealthReport): ChecklistSection {
  const indexUsage = health.indexUsage.map((index) => `${index.schema}.${index.index}: ${index.scans} scans, ${index.tuplesRead} tuples read`).join('; ') || 'no rows';
  return {
    title: 'Post-deployment health',
    items: [
      healthFinding(health, 'index auth.idx_tenant_h_system_lookup', 'Index idx_tenant_h_system_lookup is present and valid', 'pg_stat_user_indexes, pg_index'),
      healthFinding(health, 'index auth.idx_tenant_profile_s_system_active', 'Index idx_tenant_profile_s_system_active is present and valid', 'pg_stat_user_indexes, pg_index'),
      item('Index usage recorded for monitoring', 'verified', [{ source: `SELECT schemaname, relname, idx_scan, idx_tup_read FROM pg_stat_user_indexes WHERE indexname LIKE '%system%'`, value: indexUsage }]),
      healthFinding(health, 'blocking locks', 'No session is blocked by a lock', 'pg_stat_activity, pg_blocking_pids()'),
      healthFinding(health, 'long-running queries', 'No long-running queries', 'pg_stat_activity'),
      healthFinding(health, 'idle in transaction', 'No sessions idle in a transaction', 'pg_stat_activity'),
      healthFinding(health, 'connections', 'Connections well below max_connections', 'pg_stat_activity, max_connections'),
      healthFinding(health, 'last deployment', 'Last migration run succeeded', 'util.migration_log'),
      healthFinding(health, 'row level security', 'Row level security enabled and forced on every tenant-scoped table', TENANT_TABLES_QUERY),
      healthFinding(health, 'tenant isolation policies', 'Every tenant-scoped table has exactly the policies of V002, unchanged', TENANT_POLICIES_QUERY),
      healthFinding(health, 'api function privileges', 'EXECUTE on api functions as V002 grants it: onevault_app only api.tenant_register(jsonb), onevault_system_operations all, PUBLIC none', API_EXECUTE_QUERY),
      item('System health monitored for 24 hours', 'open', [], 'Run onevault health at intervals (it exits 3 when unhealthy) and keep the output.'),
      item('Tenant registration flows validated', 'open', [], 'Register a test tenant in a non-production environment and check that its raw and staging rows belong to the system tenant.'),
      item('Application integration checked', 'open', [], 'The applications that call util.get_system_operations_tenant_hk() work as before.'),
      item('Audit logs reviewed', 'open', [], 'Read the audit events of the deployment in audit.audit_detail_s.'),
    ],
  };
}

function successCriteriaSection(facts: DatabaseFacts, tests: DeploymentTestReport): ChecklistSection {
  const audited = facts.auditEvents !== null && facts.auditEvents > 0;
  return {
    title: 'Success criteria',
    items: [
      item('Migration executes without errors', facts.v001Succeeded ? 'verified' : 'failed', [{ source: 'util.migration_log', value: facts.v001Run ?? 'no run recorded' }]),
      item('All automated tests pass', tests.summary.overallStatus === 'PASSED' ? 'verified' : 'failed', [{ source: 'onevault test', value: `${tests.summary.passed} of ${tests.summary.total} passed, ${tests.summary.skipped} skipped, overall ${tests.summary.overallStatus}` }]),
      item('Manual validation confirms object creation', 'open', [], 'See Manual validation.'),
      fromGroups(tests, ['performance'], 'Performance within acceptable limits'),
      fromGroups(tests, ['idempotency'], 'Running the migrations again changes nothing'),
      item('No impact to existing functionality', 'open', [], 'Application owners confirm that their functions work as before.'),
      fromCheck(tests, 'function returns the tenant key', 'System tenant accessible via the utility function'),
      item('Tenant registration uses the system tenant', 'open', [], 'Confirmed by a test registration (Post-deployment health).'),
      item('Pre-registration data flows to the system tenant', 'open', [], 'Raw registration rows carry the system tenant key until the new tenant exists.'),
      item('System operations maintain audit trails', audited ? 'verified' : 'failed', [{ source: AUDIT_EVENT_QUERY, value: facts.auditEvents === null ? 'audit.audit_detail_s does not exist' : String(facts.auditEvents) }]),
      fromGroups(tests, ['security'], 'Business tenant isolation maintained: grants, security definer functions, api functions'),
    ],
  };
}

function emergencySection(facts: DatabaseFacts): ChecklistSection {
  const count = facts.systemTenantCount === null ? 'auth.tenant_h does not exist' : String(facts.systemTenantCount);
  return {
    title: 'Emergency procedures',
    items: [
      item('If the migration fails: stop, record every error message, run the rollback, verify the restoration, contact the DBA on-call', 'open', [], 'onevault deploy stops at the failing file and rolls it back completely. Run onevault status, then onevault rollback --to V000 if V001 must be removed.'),
      item('If tests fail: review the failed checks, check the database state, run the validation queries, consider a rollback', 'open', [], 'onevault test lists the value found and expected for every check.'),
      item('Emergency rollback command known to the team', 'open', [{ source: CLEAN_ROLLBACK_QUERY, value: `${count} now; 0 after a rollback` }], 'onevault rollback --to V000 --yes, or psql -f migrations/V001__rollback_system_operations_tenant.sql. Add --force (or onevault.force_rollback = on) only when other rows reference the system tenant and they are to be removed after their backup.'),
    ],
  };
}
