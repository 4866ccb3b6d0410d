import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';

import { buildChecklist } from '../../src/checklist/build-checklist';
import type { Checklist, ChecklistItem } from '../../src/checklist/checklist';
import { renderChecklistMarkdown } from '../../src/checklist/render-checklist';
import { MIGRATIONS_DIR, REPOSITORY_ROOT, runCli } from '../helpers/cli';
import { DeployedTemplate } from '../deployment-tests/deployed-template';

const execFileAsync = promisify(execFile);

function itemOf(checklist: Checklist, title: string): ChecklistItem {
  const found = checklist.sections.flatMap((section) => section.items).find((entry) => entry.title === title);
  assert.ok(found, `no checklist item "${title}"`);
  return found;
}

describe('checklist', () => {
  let template: DeployedTemplate;
  let workDir: string;
  before(async () => {
    template = await DeployedTemplate.create('checklist');
    workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'onevault-checklist-'));
  });
  after(async () => {
    await template?.drop();
    if (workDir) await fs.rm(workDir, { recursive: true, force: true });
  });

  test('deployed database has no failed item', async () => {
    await template.withBrokenCopy(
      'checklist_ok',
      async () => undefined,
      async (url) => {
        const checklist = await buildChecklist({ config: { connectionString: url }, migrationsDir: MIGRATIONS_DIR });
        const failed = checklist.sections.flatMap((section) => section.items).filter((entry) => entry.status === 'failed');
        assert.deepEqual(failed.map((entry) => `${entry.title}: ${JSON.stringify(entry.evidence)}`), []);
        assert.ok(checklist.summary.verified >= 25, `only ${checklist.summary.verified} verified items`);
        assert.ok(checklist.summary.open >= 10, `only ${checklist.summary.open} open items`);

        const tenant = itemOf(checklist, 'System tenant row exists with the fixed key');
        assert.equal(tenant.status, 'verified');
        assert.match(tenant.evidence[0].source, /FROM auth\.tenant_h\s+WHERE tenant_bk = 'SYSTEM_OPERATIONS'/);
        assert.match(tenant.evidence[0].value, /0{63}1/);
        assert.equal(itemOf(checklist, 'Full backup created before the deployment').status, 'open');
        assert.equal(itemOf(checklist, 'Rollback script runs').status, 'verified');
        assert.equal(itemOf(checklist, 'Forward script reviewed: idempotent, backwards compatible, prerequisite checks stop the run').status, 'open');
      },
    );
  });

  test('removed permission fails its items', async () => {
    await template.withBrokenCopy(
      'checklist_perm',
      (client) => client.query(`UPDATE auth.role_profile_s SET permissions = array_remove(permissions, 'SYSTEM_MONITORING') WHERE load_end_date IS NULL`).then(() => undefined),
      async (url) => {
        const checklist = await buildChecklist({ config: { connectionString: url }, migrationsDir: MIGRATIONS_DIR });
        const role = itemOf(checklist, 'System role has its six permissions');
        assert.equal(role.status, 'failed');
        assert.match(role.evidence[0].value, /missing SYSTEM_MONITORING/);
        assert.equal(itemOf(checklist, 'Deployment test suite passes').status, 'failed');
        assert.match(itemOf(checklist, 'Deployment test suite passes').evidence[0].value, /system role \/ role has all six permissions/);
        assert.equal(itemOf(checklist, 'All automated tests pass').status, 'failed');
      },
    );
  });

  test('tampered isolation fails its items', async () => {
    await template.withBrokenCopy(
      'checklist_isolation',
      async (client) => {
        await client.query('CREATE POLICY zz_open ON auth.user_h FOR SELECT USING (true)');
        await client.query('GRANT EXECUTE ON FUNCTION api.tenant_list(jsonb) TO onevault_app');
      },
      async (url) => {
        const checklist = await buildChecklist({ config: { connectionString: url }, migrationsDir: MIGRATIONS_DIR });
        const policies = itemOf(checklist, 'Every tenant-scoped table has exactly the policies of V002, unchanged');
        assert.equal(policies.status, 'failed');
        assert.match(policies.evidence[0].value, /extra permissive policy zz_open/);
        const grants = itemOf(checklist, 'EXECUTE on api functions as V002 grants it: onevault_app only api.tenant_register(jsonb), onevault_system_operations all, PUBLIC none');
        assert.equal(grants.status, 'failed');
        assert.match(grants.evidence[0].value, /api\.tenant_list\(jsonb\) executable by onevault_app/);
        assert.equal(itemOf(checklist, 'Business tenant isolation maintained: grants, security definer functions, api functions').status, 'failed');
      },
    );
  });

  test('psql runs leave checksum item open', async () => {
    await template.withBrokenCopy(
      'checklist_no_checksums',
      (client) => client.query(`UPDATE util.migration_log SET checksum = NULL, executed_via = 'psql'`).then(() => undefined),
      async (url) => {
        const checklist = await buildChecklist({ config: { connectionString: url }, migrationsDir: MIGRATIONS_DIR });
        const unchanged = itemOf(checklist, 'Applied scripts are unchanged since they ran');
        assert.equal(unchanged.status, 'open');
        assert.match(unchanged.evidence[0].value, /SKIPPED: .*0 recorded checksums/);
        assert.match(unchanged.instructions ?? '', /No applied run recorded a checksum/);
      },
    );
  });

  test('repair row does not count as V001 run', async () => {
    await template.withBrokenCopy(
      'checklist_repair',
      async (client) => {
        await client.query(
          `INSERT INTO util.migration_log (run_id, version, name, direction, status, started_at, finished_at, executed_via, error_message)
           VALUES (gen_random_uuid(), 'V001', 'system_operations_tenant', 'ROLLBACK', 'FAILED', now(), now(), 'onevault', 'rollback failed')`,
        );
        await client.query(
          `INSERT INTO util.migration_log (run_id, version, name, direction, status, started_at, finished_at, executed_via, details)
           VALUES (gen_random_uuid(), 'V001', 'system_operations_tenant', 'FORWARD', 'SUCCESS', now(), now(), 'onevault', '{"repair": true}')`,
        );
      },
      async (url) => {
        const checklist = await buildChecklist({ config: { connectionString: url }, migrationsDir: MIGRATIONS_DIR });
        const executed = itemOf(checklist, 'V001 executed successfully');
        assert.equal(executed.status, 'failed');
        assert.match(executed.evidence[0].value, /^ROLLBACK FAILED/);
      },
    );
  });

  test('backup file is verified or failed', async () => {
    await template.withBrokenCopy(
      'checklist_backup',
      async () => undefined,
      async (url) => {
        const file = path.join(workDir, 'before.dump');
        await execFileAsync('pg_dump', ['--format=custom', `--file=${file}`, url]);
        const withBackup = await buildChecklist({ config: { connectionString: url }, migrationsDir: MIGRATIONS_DIR, backupFile: file });
        const verified = itemOf(withBackup, 'Backup verified');
        assert.equal(verified.status, 'verified');
        assert.match(verified.evidence[0].value, /\d+ bytes, \d+ archive entries, sha256 [0-9a-f]{64}/);

        await fs.writeFile(path.join(workDir, 'garbage.dump'), 'not an archive');
        const withGarbage = await buildChecklist({ config: { connectionString: url }, migrationsDir: MIGRATIONS_DIR, backupFile: path.join(workDir, 'garbage.dump') });
        assert.equal(itemOf(withGarbage, 'Backup verified').status, 'failed');
        assert.match(itemOf(withGarbage, 'Backup verified').evidence[0].value, /pg_restore --list failed/);
      },
    );
  });

  test('CLI writes Markdown and exits 3 on failure', async () => {
    await template.withBrokenCopy(
      'checklist_cli',
      (client) => client.query('DROP INDEX auth.idx_tenant_profile_s_system_active').then(() => undefined),
      async (url) => {
        const out = path.join(workDir, 'out', 'checklist.md');
        const result = await runCli(['--database-url', url, 'checklist', '--out', out]);
        assert.equal(result.code, 3, result.stderr);
        assert.match(result.stdout, /Wrote .*checklist\.md: \d+ items verified, [1-9]\d* failed, \d+ open for a person\./);

        const markdown = await fs.readFile(out, 'utf8');
        assert.match(markdown, /^# Deployment checklist: System Operations Tenant \(V001\)$/m);
        assert.match(markdown, /^- \[ \] Index idx_tenant_profile_s_system_active is present and valid \(FAILED\)$/m);
        assert.match(markdown, /^- \[x\] Schemas auth and util exist \(verified by onevault\)$/m);
        assert.match(markdown, /^\| Role \| Name \| Date \| Signature \|$/m);
      },
    );
  });

  test('static document lists the same sections', async () => {
    await template.withBrokenCopy(
      'checklist_doc',
      async () => undefined,
      async (url) => {
        const checklist = await buildChecklist({ config: { connectionString: url }, migrationsDir: MIGRATIONS_DIR });
        const document = await fs.readFile(path.join(REPOSITORY_ROOT, 'docs', 'deployment_checklist.md'), 'utf8');
        const headings = [...document.matchAll(/^## (.+)$/gm)].map((match) => match[1]);
        const generated = checklist.sections.map((section) => section.title.replace(/ \(.*\)$/, ''));
        assert.deepEqual(headings, [...generated, 'Sign-off']);
      },
    );
  });

  test('Markdown keeps values on one line', () => {
    const markdown = renderChecklistMarkdown({
      database: 'db',
      serverVersion: '15',
      generatedAt: new Date('2026-01-01T00:00:00Z'),
      sections: [{ title: 'Section', items: [{ title: 'Item with | pipe', status: 'failed', evidence: [{ source: 'SELECT `x`\nFROM t', value: 'line one\nline <two>' }] }] }],
      summary: { verified: 0, failed: 1, open: 0 },
    });
    assert.match(markdown, /^- \[ \] Item with \\\| pipe \(FAILED\)$/m);
    assert.match(markdown, /^ {2}- `SELECT 'x' FROM t` → line one line \\<two\\>$/m);
  });
});
