import { callApiFunction, type ApiResponse, type Queryable } from './api-response';
import type { TenantSummary } from './list-tenants';

/** A role of a tenant, as `api.tenant_get` returns it. */
export interface TenantRoleDetails {
  readonly role_id: string;
  readonly role_bk: string;
  readonly role_name: string | null;
  readonly role_type: string | null;
  readonly is_system_role: boolean | null;
  readonly permissions: readonly string[] | null;
}

/** A user linked to the tenant's Administrator role. */
export interface TenantAdministrator {
  readonly user_id: string;
  readonly email: string | null;
  readonly first_name: string | null;
  readonly last_name: string | null;
  readonly is_active: boolean | null;
}

export interface TenantDetails extends TenantSummary {
  readonly roles: readonly TenantRoleDetails[];
  readonly administrators: readonly TenantAdministrator[];
}

/** A tenant id is the hex of its 32-byte hash key. */
const TENANT_ID_PATTERN = /^[0-9a-fA-F]{64}$/;

/**
 * Returns one tenant through `api.tenant_get`, which only members of `onevault_system_operations`
 * may execute. `idOrName` is a tenant id (64 hex digits) or a tenant name, which the database
 * compares without regard to case and spacing. An unknown tenant is a response with error code
 * `TENANT_NOT_FOUND`. Throws `OnevaultError` only when the function cannot be called.
 */
export function getTenant(client: Queryable, idOrName: string): Promise<ApiResponse<TenantDetails>> {
  const request = TENANT_ID_PATTERN.test(idOrName) ? { tenant_id: idOrName } : { tenant_name: idOrName };
  return callApiFunction<TenantDetails>(client, 'tenant_get', request);
}
