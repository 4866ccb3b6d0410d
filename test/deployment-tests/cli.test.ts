import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { CHECK_GROUPS, type DeploymentTestReport } from '../../src/deployment-tests/check-result';
import { REPOSITORY_ROOT, runCli } from '../helpers/cli';
import { DeployedTemplate } from './deployed-template';
import { parseXml, type XmlElement } from './parse-xml';

const STATUSES = ['PASSED', 'FAILED', 'ERROR', 'SKIPPED'];

/** Validates the JSON report's shape and that its summary agrees with its checks. */
function validateJsonReport(report: DeploymentTestReport): void {
  assert.equal(typeof report.database, 'string');
  assert.ok(Array.isArray(report.checks));
  for (const check of report.checks) {
    assert.equal(typeof check.name, 'string');
    assert.ok((CHECK_GROUPS as readonly string[]).includes(check.group), `unknown group ${check.group}`);
    assert.ok(STATUSES.includes(check.status), `unknown status ${check.status}`);
    assert.match(check.details, /^found: .*; expected: /s);
    assert.equal(typeof check.durationMs, 'number');
  }

  const count = (status: string): number => report.checks.filter((check) => check.status === status).length;
  const summary = report.summary;
  assert.equal(summary.total, report.checks.length);
  assert.equal(summary.passed, count('PASSED'));
  assert.equal(summary.failed, count('FAILED'));
  assert.equal(summary.errors, count('ERROR'));
  assert.equal(summary.skipped, count('SKIPPED'));
  const rated = summary.total - summary.skipped;
  assert.equal(summary.successRate, rated === 0 ? 0 : Math.round((summary.passed / rated) * 10_000) / 100);
  assert.equal(summary.overallStatus, summary.failed + summary.errors === 0 ? 'PASSED' : 'FAILED');
}

/** Validates the JUnit document against the report it was written from. */
function validateJunit(root: XmlElement, report: DeploymentTestReport): void {
  assert.equal(root.name, 'testsuites');
  assert.equal(root.attributes.tests, String(report.summary.total));
  assert.equal(root.attributes.failures, String(report.summary.failed));
  assert.equal(root.attributes.errors, String(report.summary.errors));
  assert.equal(root.attributes.skipped, String(report.summary.skipped));

  const cases: { suite: string; element: XmlElement }[] = [];
  for (const suite of root.children) {
    assert.equal(suite.name, 'testsuite');
    const testcases = suite.children.filter((child) => child.name === 'testcase');
    assert.equal(suite.attributes.tests, String(testcases.length));
    const withChild = (name: string): number => testcases.filter((testcase) => testcase.children.some((child) => child.name === name)).length;
    assert.equal(suite.attributes.failures, String(withChild('failure')));
    assert.equal(suite.attributes.errors, String(withChild('error')));
    assert.equal(suite.attributes.skipped, String(withChild('skipped')));
    for (const testcase of testcases) {
      assert.match(testcase.attributes.time, /^\d+\.\d{3}$/);
      assert.ok(testcase.attributes.classname.startsWith('onevault.'));
      cases.push({ suite: suite.attributes.name, element: testcase });
    }
  }

  assert.equal(cases.length, report.checks.length);
  for (const check of report.checks) {
    const found = cases.find((entry) => entry.suite === check.group && entry.element.attributes.name === check.name);
    assert.ok(found, `no testcase for ${check.group} / ${check.name}`);
    const childNames = found.element.children.map((child) => child.name);
    const expectedChild = { PASSED: undefined, FAILED: 'failure', ERROR: 'error', SKIPPED: 'skipped' }[check.status];
    if (expectedChild) assert.ok(childNames.includes(expectedChild), `${check.name} lacks <${expectedChild}>`);
    else assert.deepEqual(childNames, ['system-out']);
    assert.equal(found.element.children.find((child) => child.name === 'system-out')?.text, check.details);
  }
}

describe('onevault test CLI', () => {
  let template: DeployedTemplate;
  let workDir: string;
  before(async () => {
    template = await DeployedTemplate.create('dt_cli');
    workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'onevault-test-cli-'));
  });
  after(async () => {
    await template?.drop();
    if (workDir) await fs.rm(workDir, { recursive: true, force: true });
  });

  test('passing run prints aligned text and exits 0', async () => {
    await template.withBrokenCopy(
      'dt_cli_text',
      async () => undefined,
      async (url) => {
        const result = await runCli(['--database-url', url, 'test', '--performance-runs', '3']);
        assert.equal(result.code, 0, result.stdout + result.stderr);

        const lines = result.stdout.split('\n');
        const header = lines.find((line) => line.startsWith('group'));
        assert.ok(header, result.stdout);
        const statusColumn = header.indexOf('status');
        const rows = lines.filter((line) => /  (PASSED|FAILED|ERROR|SKIPPED) /.test(line));
        assert.ok(rows.length >= 30, `only ${rows.length} check lines`);
        for (const row of rows) assert.match(row.slice(statusColumn), /^(PASSED|FAILED|ERROR|SKIPPED) /, row);

        assert.match(result.stdout, /^Total: \d+ {2}Passed: \d+ {2}Failed: 0 {2}Errors: 0 {2}Skipped: \d+$/m);
        assert.match(result.stdout, /^Success rate: 100\.00% /m);
        assert.match(result.stdout, /^Overall status: PASSED/m);
        assert.match(result.stderr, /created scratch copy .* \(template\)/);
        assert.match(result.stderr, /dropped scratch copy/);
      },
    );
  });

  test('failing run writes valid JSON and JUnit, exits 3', async () => {
    await template.withBrokenCopy(
      'dt_cli_fail',
      async (client) => {
        await client.query(`UPDATE auth.role_profile_s SET permissions = array_remove(permissions, 'DATA_MIGRATION') WHERE load_end_date IS NULL`);
        await client.query('DROP INDEX auth.idx_tenant_h_system_lookup');
        await client.query(`DROP FUNCTION util.hash_concat(text[]) CASCADE`);
      },
      async (url) => {
        const junitFile = path.join(workDir, 'reports', 'deployment.xml');
        const result = await runCli(['--database-url', url, '--json', 'test', '--junit', junitFile, '--performance-runs', '3']);
        assert.equal(result.code, 3, result.stderr);

        const report = JSON.parse(result.stdout) as DeploymentTestReport;
        validateJsonReport(report);
        assert.equal(report.summary.overallStatus, 'FAILED');
        const failedNames = report.checks.filter((check) => check.status === 'FAILED').map((check) => check.name);
        for (const name of ['role has all six permissions', 'idx_tenant_h_system_lookup is on auth.tenant_h', 'platform functions exist']) assert.ok(failedNames.includes(name), `${name} did not fail`);

        validateJunit(parseXml(await fs.readFile(junitFile, 'utf8')), report);
      },
    );
  });

  test('JUnit of a passing run is valid', async () => {
    await template.withBrokenCopy(
      'dt_cli_junit',
      async () => undefined,
      async (url) => {
        const junitFile = path.join(workDir, 'passing.xml');
        const result = await runCli(['--database-url', url, '--json', 'test', '--junit', junitFile, '--group', 'prerequisites', 'security']);
        assert.equal(result.code, 0, result.stderr);
        const report = JSON.parse(result.stdout) as DeploymentTestReport;
        validateJsonReport(report);
        assert.deepEqual([...new Set(report.checks.map((check) => check.group))], ['prerequisites', 'security']);
        validateJunit(parseXml(await fs.readFile(junitFile, 'utf8')), report);
      },
    );
  });

  test('unknown group is a usage error', async () => {
    await template.withBrokenCopy(
      'dt_cli_usage',
      async () => undefined,
      async (url) => {
        const result = await runCli(['--database-url', url, 'test', '--group', 'speed']);
        assert.equal(result.code, 2);
        assert.match(result.stderr, /Unknown check group "speed"/);
      },
    );
  });

  test('Ctrl-C drops the scratch copy and exits 130', async () => {
    await template.withBrokenCopy(
      'dt_cli_sigint',
      async () => undefined,
      async (url) => {
        const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
        delete env.DATABASE_URL;
        const child = spawn(process.execPath, [path.join(REPOSITORY_ROOT, 'bin', 'onevault.js'), '--database-url', url, 'test', '--group', 'rollback readiness'], { cwd: REPOSITORY_ROOT, env });
        let stderr = '';
        let signalled = false;
        child.stderr.on('data', (chunk: Buffer) => {
          stderr += chunk.toString('utf8');
          if (!signalled && stderr.includes('created scratch copy')) {
            signalled = true;
            child.kill('SIGINT');
          }
        });
        const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
        assert.ok(signalled, `no scratch copy was announced: ${stderr}`);
        assert.equal(code, 130, stderr);
        assert.match(stderr, /error INTERRUPTED/);
      },
    );
  });
});
