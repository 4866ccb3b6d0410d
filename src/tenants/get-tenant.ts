import { OnevaultError } from '../errors';
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
 * `TENANT_NOT_FOUND`, whose message names the value and the command that lists the tenants.
 * Throws `INVALID_ARGUMENT` for an empty or blank `idOrName` without querying, and
 * `OnevaultError` when the function cannot be called.
 */
export async function getTenant(client: Queryable, idOrName: string): Promise<ApiResponse<TenantDetails>> {
  if (idOrName.trim() === '') {
    throw new OnevaultError('INVALID_ARGUMENT', 'The tenant id or name is empty.', {
      hint: 'Give a tenant id (64 hex digits) or a tenant name; onevault tenant list shows both.',
    });
  }

  const isId = TENANT_ID_PATTERN.test(idOrName);
  const request = isId ? { tenant_id: idOrName } : { tenant_name: idOrName };
  const response = await callApiFunction<TenantDetails>(client, 'tenant_get', request);
  if (response.success || response.error_code !== 'TENANT_NOT_FOUND') return response;

  // The database never puts request values into its messages, so the value is named here.
  const subject = isId ? `has the id ${idOrName.toLowerCase()}` : `is named ${JSON.stringify(idOrName)}`;
  return { ...response, message: `No tenant ${subject}. Run onevault tenant list to see the tenants and their ids.` };
}
