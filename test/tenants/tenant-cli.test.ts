import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { runCli } from '../helpers/cli';
import { openSharedDatabase, scalar, SYSTEM_TENANT_HK_HEX, uniqueTenantName, withRegistrationDatabase, type SharedDatabase } from './fixtures';

const PASSWORD = 'a long enough cli password';

describe('onevault tenant', () => {
  let database: SharedDatabase;

  before(async () => {
    database = await openSharedDatabase();
  });

  after(async () => {
    await database?.close();
  });

  function tenantCli(args: readonly string[], input?: string) {
    return runCli(['--database-url', database.url, 'tenant', ...args], { input });
  }

  it('registers with --password-stdin', async () => {
    const name = uniqueTenantName('Cli');

    const result = await tenantCli(['register', '--name', name, '--admin-email', 'cli@example.com', '--first-name', 'Cli', '--password-stdin'], `${PASSWORD}\n`);

    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^Registered tenant ${name}$`, 'm'));
    assert.match(result.stdout, /^ {2}tenant id: +[0-9a-f]{64}$/m);
    assert.match(result.stdout, /^ {2}roles: +Administrator, User$/m);
    const verified = await scalar<boolean>(
      database.client,
      `SELECT password_hash = public.crypt($1, password_hash) FROM auth.user_auth_s WHERE username = 'cli@example.com'`,
      [PASSWORD],
    );
    assert.equal(verified, true);
  });

  it('prints every failed rule', async () => {
    const result = await tenantCli(['register', '--name', 'x', '--admin-email', 'no-at-sign', '--password-stdin'], 'short\n');

    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /^error VALIDATION_FAILED: /m);
    assert.match(result.stderr, /^ {2}tenant_name +min_length +tenant_name must be at least 2 characters long\.$/m);
    assert.match(result.stderr, /^ {2}admin_email +syntax +/m);
    assert.match(result.stderr, /^ {2}admin_password +min_length +/m);
    assert.doesNotMatch(result.stderr, /short/);
  });

  it('prints the JSON response', async () => {
    const name = uniqueTenantName('Json');

    const result = await tenantCli(['--json', 'register', '--name', name, '--admin-email', 'json@example.com', '--password-stdin'], PASSWORD);

    assert.equal(result.code, 0, result.stderr);
    const response = JSON.parse(result.stdout);
    assert.equal(response.success, true);
    assert.equal(response.data.tenant_name, name);
    assert.deepEqual(response.data.roles.map((role: { role_bk: string }) => role.role_bk), ['ADMINISTRATOR', 'USER']);
  });

  it('prints a JSON validation failure', async () => {
    const result = await tenantCli(['register', '--json', '--name', 'Valid Name', '--admin-email', 'json@example.com', '--password-stdin'], 'json@example.com');

    assert.equal(result.code, 1);
    const response = JSON.parse(result.stdout);
    assert.equal(response.error_code, 'VALIDATION_FAILED');
    assert.deepEqual(response.errors.map((error: { field: string; rule: string }) => `${error.field}.${error.rule}`), ['admin_password.not_email']);
  });

  it('needs a terminal or --password-stdin', async () => {
    const result = await tenantCli(['register', '--name', 'No Terminal', '--admin-email', 'tty@example.com'], PASSWORD);

    assert.equal(result.code, 2);
    assert.match(result.stderr, /^error INVALID_ARGUMENT: stdin is not a terminal/m);
    assert.match(result.stderr, /--password-stdin/);
  });

  it('rejects empty stdin', async () => {
    const result = await tenantCli(['register', '--name', 'Empty Stdin', '--admin-email', 'tty@example.com', '--password-stdin'], '\n');

    assert.equal(result.code, 2);
    assert.match(result.stderr, /^error INVALID_ARGUMENT: --password-stdin was given/m);
  });

  it('has no password option', async () => {
    const result = await tenantCli(['register', '--name', 'Flag', '--admin-email', 'flag@example.com', '--password', PASSWORD]);

    assert.equal(result.code, 2);
    assert.match(result.stderr, /unknown option '--password'/);
  });

  it('lists tenants as a table', async () => {
    const result = await tenantCli(['list']);

    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^tenant id +name +type +status +users +registered at \(UTC\)$/m);
    assert.match(result.stdout, new RegExp(`^${SYSTEM_TENANT_HK_HEX} +System Operations Tenant +SYSTEM +ACTIVE`, 'm'));
    assert.match(result.stdout, /^\d+ of \d+ tenants \(offset 0\)$/m);
  });

  it('shows a tenant by name and id', async () => {
    const name = uniqueTenantName('Show');
    const registered = await tenantCli(['--json', 'register', '--name', name, '--admin-email', 'show@example.com', '--last-name', 'Shaw', '--password-stdin'], PASSWORD);
    const tenantId: string = JSON.parse(registered.stdout).data.tenant_id;

    const byName = await tenantCli(['show', name.toLowerCase()]);
    const byId = await tenantCli(['show', tenantId, '--json']);

    assert.equal(byName.code, 0, byName.stderr);
    assert.match(byName.stdout, new RegExp(`^tenant id: +${tenantId}$`, 'm'));
    assert.match(byName.stdout, /^ {2}Administrator \(ADMINISTRATOR\): TENANT_ADMIN, /m);
    assert.match(byName.stdout, /^ {2}show@example\.com \(Shaw\)$/m);
    assert.equal(byId.code, 0, byId.stderr);
    assert.equal(JSON.parse(byId.stdout).data.tenant_name, name);
  });

  it('reports an unknown tenant', async () => {
    const result = await tenantCli(['show', 'f'.repeat(64)]);

    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`^error TENANT_NOT_FOUND: No tenant has the id ${'f'.repeat(64)}\\. Run onevault tenant list `, 'm'));
  });

  it('names an unknown tenant name', async () => {
    const result = await tenantCli(['show', 'nope']);

    assert.equal(result.code, 1);
    assert.match(result.stderr, /^error TENANT_NOT_FOUND: No tenant is named "nope"\. Run onevault tenant list to see the tenants and their ids\.$/m);
  });

  it('rejects an empty tenant', async () => {
    for (const value of ['', '   ']) {
      const result = await tenantCli(['show', value]);

      assert.equal(result.code, 2, `exit code for ${JSON.stringify(value)}`);
      assert.match(result.stderr, /^error INVALID_ARGUMENT: The tenant id or name is empty\.$/m);
    }
  });
});

describe('onevault tenant without V001', () => {
  it('names the missing function', async () => {
    await withRegistrationDatabase(async (client, url) => {
      // Only a hand-made change can do this: the V001 rollback rejects while V002 is deployed.
      await client.query('DROP FUNCTION util.get_system_operations_tenant_hk()');
      const tenantCli = (args: readonly string[], input?: string) => runCli(['--database-url', url, 'tenant', ...args], { input });

      const results = {
        register: await tenantCli(['register', '--name', 'Missing Co', '--admin-email', 'm@example.com', '--password-stdin'], PASSWORD),
        list: await tenantCli(['list']),
        show: await tenantCli(['show', 'Missing Co']),
      };

      for (const [command, result] of Object.entries(results)) {
        assert.notEqual(result.code, 0, command);
        assert.match(result.stderr, /^error PREREQUISITE_MISSING: api\.tenant_\w+ failed because the function util\.get_system_operations_tenant_hk\(\), which it needs, does not exist\.$/m, command);
        assert.match(result.stderr, /hint: Migration V001 \(System Operations tenant\) creates it\./, command);
        assert.doesNotMatch(result.stderr, /INTERNAL_ERROR|Deploy migration V002/, command);
      }
    });
  });
});
