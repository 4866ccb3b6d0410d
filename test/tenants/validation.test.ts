import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { registerTenant, type ApiFailure, type TenantRegistrationRequest } from '../../src/tenants';
import { countAuthRows, openSharedDatabase, scalar, validRequest, type SharedDatabase } from './fixtures';

interface RuleCase {
  readonly name: string;
  readonly field: string;
  readonly rule: string;
  readonly overrides: Partial<Record<keyof TenantRegistrationRequest | 'extra_field', unknown>>;
  /** Fields to leave out of the request. */
  readonly omit?: readonly string[];
}

const LONG_LOCAL_PART = 'a'.repeat(65);

/** One case per rule: a request that breaks exactly that rule. */
const RULE_CASES: readonly RuleCase[] = [
  { name: 'tenant name missing', field: 'tenant_name', rule: 'required', overrides: {}, omit: ['tenant_name'] },
  { name: 'tenant name null', field: 'tenant_name', rule: 'required', overrides: { tenant_name: null } },
  { name: 'tenant name blank', field: 'tenant_name', rule: 'required', overrides: { tenant_name: '   ' } },
  { name: 'tenant name a number', field: 'tenant_name', rule: 'type', overrides: { tenant_name: 42 } },
  { name: 'tenant name too short', field: 'tenant_name', rule: 'min_length', overrides: { tenant_name: ' Q ' } },
  { name: 'tenant name too long', field: 'tenant_name', rule: 'max_length', overrides: { tenant_name: 'N'.repeat(101) } },
  { name: 'tenant name with markup', field: 'tenant_name', rule: 'allowed_characters', overrides: { tenant_name: 'Acme <script>' } },
  { name: 'tenant name starting with dash', field: 'tenant_name', rule: 'allowed_characters', overrides: { tenant_name: '-Acme' } },
  { name: 'tenant name of system tenant', field: 'tenant_name', rule: 'not_registered', overrides: { tenant_name: 'system_operations' } },
  { name: 'admin email missing', field: 'admin_email', rule: 'required', overrides: {}, omit: ['admin_email'] },
  { name: 'admin email an object', field: 'admin_email', rule: 'type', overrides: { admin_email: { address: 'a@b.co' } } },
  { name: 'admin email without at', field: 'admin_email', rule: 'syntax', overrides: { admin_email: 'admin.example.com' } },
  { name: 'admin email without domain dot', field: 'admin_email', rule: 'syntax', overrides: { admin_email: 'admin@localhost' } },
  { name: 'admin email with double dot', field: 'admin_email', rule: 'syntax', overrides: { admin_email: 'ad..min@example.com' } },
  { name: 'admin email local part too long', field: 'admin_email', rule: 'syntax', overrides: { admin_email: `${LONG_LOCAL_PART}@example.com` } },
  { name: 'admin email too long', field: 'admin_email', rule: 'max_length', overrides: { admin_email: `admin@${'d'.repeat(60)}.${'e'.repeat(60)}.${'f'.repeat(60)}.${'g'.repeat(60)}.${'h'.repeat(60)}.com` } },
  { name: 'admin password missing', field: 'admin_password', rule: 'required', overrides: {}, omit: ['admin_password'] },
  { name: 'admin password empty', field: 'admin_password', rule: 'required', overrides: { admin_password: '' } },
  { name: 'admin password a number', field: 'admin_password', rule: 'type', overrides: { admin_password: 123456789012345 } },
  { name: 'admin password too short', field: 'admin_password', rule: 'min_length', overrides: { admin_password: 'short pass' } },
  { name: 'admin password over 72 bytes', field: 'admin_password', rule: 'max_length', overrides: { admin_password: 'ü'.repeat(37) } },
  { name: 'admin password equals email', field: 'admin_password', rule: 'not_email', overrides: { admin_email: 'someone@example.com', admin_password: 'SomeOne@Example.com' } },
  { name: 'admin password equals tenant name', field: 'admin_password', rule: 'not_tenant_name', overrides: { tenant_name: 'Password Equals Name', admin_password: 'password   equals NAME' } },
  { name: 'first name a number', field: 'admin_first_name', rule: 'type', overrides: { admin_first_name: 7 } },
  { name: 'first name too long', field: 'admin_first_name', rule: 'max_length', overrides: { admin_first_name: 'F'.repeat(101) } },
  { name: 'last name with line break', field: 'admin_last_name', rule: 'allowed_characters', overrides: { admin_last_name: 'Love\nlace' } },
  { name: 'unknown field', field: 'extra_field', rule: 'known_field', overrides: { extra_field: 'x' } },
];

function requestFor(testCase: RuleCase): Record<string, unknown> {
  const request: Record<string, unknown> = { ...validRequest(), ...testCase.overrides };
  for (const field of testCase.omit ?? []) delete request[field];
  return request;
}

describe('tenant registration validation', () => {
  let database: SharedDatabase;

  before(async () => {
    database = await openSharedDatabase();
  });

  after(async () => {
    await database?.close();
  });

  for (const testCase of RULE_CASES) {
    it(`rejects ${testCase.name} as ${testCase.field}.${testCase.rule}`, async () => {
      const client = database.client;
      const authRowsBefore = await countAuthRows(client);

      const response = await registerTenant(client, requestFor(testCase) as unknown as TenantRegistrationRequest);

      assert.equal(response.success, false, `accepted: ${JSON.stringify(response)}`);
      const failure = response as ApiFailure;
      assert.equal(failure.error_code, 'VALIDATION_FAILED');
      assert.deepEqual(
        failure.errors.map((error) => `${error.field}.${error.rule}`),
        [`${testCase.field}.${testCase.rule}`],
      );
      assert.ok(failure.errors[0].message.length > 0);
      assert.equal(await countAuthRows(client), authRowsBefore);

      const staging = await client.query(
        `SELECT status, is_valid, error_code, status_reason, validation_results FROM staging.tenant_registration_s WHERE raw_registration_id = $1`,
        [failure.request_id],
      );
      assert.equal(staging.rows[0].status, 'FAILED');
      assert.equal(staging.rows[0].is_valid, false);
      assert.equal(staging.rows[0].error_code, 'VALIDATION_FAILED');
      assert.match(staging.rows[0].status_reason, new RegExp(`${testCase.field}\\.${testCase.rule}`));
      const failedOutcomes = (staging.rows[0].validation_results as { field: string; rule: string; outcome: string }[])
        .filter((outcome) => outcome.outcome === 'failed')
        .map((outcome) => `${outcome.field}.${outcome.rule}`);
      assert.deepEqual(failedOutcomes, [`${testCase.field}.${testCase.rule}`]);

      const raw = await client.query(`SELECT status, error_code FROM raw.tenant_registration_r WHERE raw_registration_id = $1`, [failure.request_id]);
      assert.deepEqual(raw.rows, [{ status: 'FAILED', error_code: 'VALIDATION_FAILED' }]);
    });
  }

  it('lists every failed rule at once', async () => {
    const client = database.client;
    const response = await registerTenant(client, { tenant_name: 'x', admin_email: 'nope', admin_password: 'tiny', extra: 1 } as unknown as TenantRegistrationRequest);

    assert.equal(response.success, false);
    assert.deepEqual(
      (response as ApiFailure).errors.map((error) => `${error.field}.${error.rule}`),
      ['extra.known_field', 'tenant_name.min_length', 'admin_email.syntax', 'admin_password.min_length'],
    );
  });

  it('rejects a request that is no object', async () => {
    const client = database.client;
    const authRowsBefore = await countAuthRows(client);

    for (const request of ['[1, 2]', '"text"', 'null']) {
      const response = await scalar<ApiFailure>(client, 'SELECT api.tenant_register($1::jsonb)', [request]);
      assert.equal(response.error_code, 'VALIDATION_FAILED');
      assert.deepEqual(response.errors.map((error) => `${error.field}.${error.rule}`), ['request.object']);
    }
    const sqlNull = await scalar<ApiFailure>(client, 'SELECT api.tenant_register(NULL)');
    assert.equal(sqlNull.error_code, 'VALIDATION_FAILED');
    assert.equal(await countAuthRows(client), authRowsBefore);
  });

  it('accepts names without optional fields', async () => {
    const client = database.client;
    const request = { ...validRequest() } as Record<string, unknown>;
    delete request.admin_first_name;
    request.admin_last_name = null;

    const response = await registerTenant(client, request as unknown as TenantRegistrationRequest);

    assert.equal(response.success, true, JSON.stringify(response));
  });
});
