import { callApiFunction, type ApiResponse, type Queryable } from './api-response';

/** Request of `api.tenant_register`. The database validates every field, so nothing is checked here. */
export interface TenantRegistrationRequest {
  readonly tenant_name: string;
  readonly admin_email: string;
  readonly admin_password: string;
  readonly admin_first_name?: string | null;
  readonly admin_last_name?: string | null;
}

/** A default role created for a new tenant. */
export interface TenantRole {
  /** Hex of the role's hash key. */
  readonly role_id: string;
  readonly role_bk: string;
  readonly role_name: string;
  readonly permissions: readonly string[];
}

/** Data of a successful registration. */
export interface RegisteredTenant {
  /** Hex of the tenant's hash key: SHA-256 of the normalised tenant name. */
  readonly tenant_id: string;
  /** Normalised tenant name: trimmed, inner whitespace collapsed, upper case. */
  readonly tenant_bk: string;
  readonly tenant_name: string;
  /** Hex of the admin user's hash key. */
  readonly admin_user_id: string;
  /** Login name of the admin: the e-mail address in lower case. */
  readonly admin_username: string;
  readonly roles: readonly TenantRole[];
  /** Hub load date in UTC, ISO 8601 with microseconds. */
  readonly registered_at: string;
  /** raw.tenant_registration_r id of the request. */
  readonly request_id: number;
}

/**
 * Registers a tenant with its admin user through `api.tenant_register` and returns the database's
 * response. A rejected or failed registration is returned, not thrown, as a response with
 * `success: false`, a stable `error_code` and, for `VALIDATION_FAILED`, every failed rule.
 * The call is one statement, and the function records a failure even when the load into auth
 * fails. That record is lost only when the caller's own transaction is rolled back afterwards.
 * Throws `OnevaultError` only when the function cannot be called (see `callApiFunction`).
 *
 * @example
 * const response = await registerTenant(client, {
 *   tenant_name: 'Acme Corp',
 *   admin_email: 'admin@acme.example',
 *   admin_password: passwordFromPrompt,
 * });
 * if (!response.success) for (const error of response.errors) console.error(error.field, error.rule, error.message);
 */
export function registerTenant(client: Queryable, request: TenantRegistrationRequest): Promise<ApiResponse<RegisteredTenant>> {
  return callApiFunction<RegisteredTenant>(client, 'tenant_register', request);
}
