import type { ClientBase, Pool } from 'pg';

import { OnevaultError, postgresFieldsOf } from '../errors';

/** A session or a pool: anything that can run one query. */
export type Queryable = Pick<ClientBase, 'query'> | Pick<Pool, 'query'>;

/**
 * Stable error codes of the `api` functions (V002). Callers match on them, so never rename one.
 * `VALIDATION_FAILED` comes with one entry per failed rule in `errors`.
 */
export type TenantApiErrorCode =
  | 'VALIDATION_FAILED'
  | 'TENANT_NOT_FOUND'
  | 'CONFLICT'
  | 'TIMEOUT'
  | 'READ_ONLY'
  | 'CONSTRAINT_VIOLATION'
  | 'CONFIGURATION_INVALID'
  | 'PREREQUISITE_MISSING'
  | 'RESOURCES_EXHAUSTED'
  | 'INTERNAL_ERROR';

/** One failed validation rule: the request field, the rule's code (`min_length`, `syntax`, …) and what to fix. */
export interface RuleViolation {
  readonly field: string;
  readonly rule: string;
  readonly message: string;
}

export interface ApiSuccess<T> {
  readonly success: true;
  readonly data: T;
}

export interface ApiFailure {
  readonly success: false;
  readonly error_code: TenantApiErrorCode;
  readonly message: string;
  readonly errors: readonly RuleViolation[];
  /** raw.tenant_registration_r id of a failed registration, when the failure could be recorded. */
  readonly request_id?: number;
  /** With `PREREQUISITE_MISSING` from tenant_list and tenant_get: the server's message naming the missing object. */
  readonly missing_object?: string;
}

/** The JSON response of an `api` function, exactly as the database returned it. */
export type ApiResponse<T> = ApiSuccess<T> | ApiFailure;

const SQLSTATE_UNDEFINED_FUNCTION = '42883';
const SQLSTATE_UNDEFINED_SCHEMA = '3F000';
const SQLSTATE_UNDEFINED_TABLE = '42P01';
const SQLSTATE_INSUFFICIENT_PRIVILEGE = '42501';

/**
 * Calls `api.<name>(request)` with the request as a bind parameter, so that no value (the admin
 * password included) appears in the query text, pg_stat_activity or pg_stat_statements.
 * Returns the response. Throws `PREREQUISITE_MISSING`, naming the missing object and the migration
 * that creates it, when V002 is not deployed or an object that the api function needs is gone
 * (also when the function answers with that error code),
 * `INSUFFICIENT_PRIVILEGE` when the session's role may not execute the function,
 * `CONNECTION_LOST` when the connection fails, and `INTERNAL_ERROR` for any other error or an
 * response that is not an api response.
 */
export async function callApiFunction<T>(client: Queryable, name: 'tenant_register' | 'tenant_list' | 'tenant_get', request: unknown): Promise<ApiResponse<T>> {
  let response: unknown;
  try {
    const result = await client.query<{ response: unknown }>(`SELECT api.${name}($1::jsonb) AS response`, [JSON.stringify(request)]);
    response = result.rows[0]?.response;
  } catch (error) {
    throw describeCallError(error, name);
  }

  if (isMissingPrerequisite(response)) throw describeMissingObject(name, response.missing_object ?? response.message);
  if (!isApiResponse(response)) {
    throw new OnevaultError('INTERNAL_ERROR', `api.${name} returned something that is not an api response: ${JSON.stringify(response)?.slice(0, 200)}.`, {
      hint: 'Check that the deployed V002 matches this version of onevault (onevault status).',
    });
  }
  return response as ApiResponse<T>;
}

function isApiResponse(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const response = value as Record<string, unknown>;
  if (response.success === true) return 'data' in response;
  return response.success === false && typeof response.error_code === 'string' && typeof response.message === 'string' && Array.isArray(response.errors);
}

function describeCallError(error: unknown, name: string): OnevaultError {
  const fields = postgresFieldsOf(error);
  const message = error instanceof Error ? error.message : String(error);

  if (!fields) {
    return new OnevaultError('CONNECTION_LOST', `The call of api.${name} lost its connection: ${message}.`, {
      hint: 'The server rolled back the open transaction. Check the server, then send the request again.',
      cause: error,
    });
  }
  if (fields.sqlstate === SQLSTATE_UNDEFINED_FUNCTION || fields.sqlstate === SQLSTATE_UNDEFINED_SCHEMA || fields.sqlstate === SQLSTATE_UNDEFINED_TABLE) {
    return describeMissingObject(name, message, { cause: error, postgres: fields });
  }
  if (fields.sqlstate === SQLSTATE_INSUFFICIENT_PRIVILEGE) {
    const grantee = name === 'tenant_register' ? 'onevault_app or onevault_system_operations' : 'onevault_system_operations';
    return new OnevaultError('INSUFFICIENT_PRIVILEGE', `The session's role may not execute api.${name}: ${message}.`, {
      hint: `Connect as a role that is a member of ${grantee} (GRANT ${grantee.split(' ')[0]} TO <login role>).`,
      cause: error,
      postgres: fields,
    });
  }
  return new OnevaultError('INTERNAL_ERROR', `The call of api.${name} failed: ${message}.`, { cause: error, postgres: fields });
}

function isMissingPrerequisite(value: unknown): value is ApiFailure {
  return isApiResponse(value) && (value as ApiFailure).success === false && (value as ApiFailure).error_code === 'PREREQUISITE_MISSING';
}

/** Migrations that create the database objects the api functions depend on, most specific first. */
const PROVIDING_MIGRATIONS: readonly { readonly pattern: RegExp; readonly migration: string }[] = [
  { pattern: /\butil\.get_system_operations_tenant_hk\b/, migration: 'V001 (System Operations tenant)' },
  {
    pattern: /\b(api\.\w+|util\.(get_password_bcrypt_cost|registration_rule_outcome|check_tenant_registration|redact_tenant_registration_request|load_tenant_registration|classify_api_error|describe_api_error|describe_tenant))\b|\bschema "api"/,
    migration: 'V002 (tenant registration)',
  },
  { pattern: /\b(util|audit|auth|raw|staging)\.\w+|\bschema "(util|audit|auth|raw|staging)"|relation "(util|audit|auth|raw|staging)\./, migration: 'V000 (platform foundation)' },
];

/**
 * Builds the `PREREQUISITE_MISSING` error for a server message such as `function util.x() does not
 * exist`, naming the missing object and the migration that creates it. When the missing object is
 * the api function itself, V002 is not deployed; otherwise the api function exists but something it
 * calls is gone.
 */
function describeMissingObject(name: string, serverMessage: string, extra: { cause?: unknown; postgres?: ReturnType<typeof postgresFieldsOf> } = {}): OnevaultError {
  const missing = /^(function|relation|schema) (.+?) does not exist/.exec(serverMessage);
  const missingObject = missing ? `${missing[1]} ${missing[2]}` : serverMessage;
  const isItself = missing !== null && missing[1] === 'function' && missing[2].startsWith(`api.${name}(`);
  const provider = PROVIDING_MIGRATIONS.find((entry) => entry.pattern.test(isItself ? `api.${name}` : serverMessage))?.migration;

  const message = isItself
    ? `The database has no function api.${name}: ${serverMessage}.`
    : `api.${name} failed because the ${missingObject}, which it needs, does not exist.`;
  const hint = provider
    ? `Migration ${provider} creates it. Deploy it with onevault deploy, or, when onevault status lists it as applied, run its file again (migrations are idempotent), then try again.`
    : 'Run onevault verify to find the missing or damaged migration, deploy it again, then try again.';
  return new OnevaultError('PREREQUISITE_MISSING', message, { hint, ...extra });
}
