import { callApiFunction, type ApiResponse, type Queryable } from './api-response';

/** One tenant as `api.tenant_list` and `api.tenant_get` describe it. */
export interface TenantSummary {
  readonly tenant_id: string;
  readonly tenant_bk: string;
  readonly tenant_name: string | null;
  readonly tenant_type: string | null;
  readonly tenant_status: string | null;
  readonly is_active: boolean | null;
  readonly max_users: number | null;
  readonly contact_email: string | null;
  readonly compliance_frameworks: readonly string[] | null;
  /** Hub load date in UTC, ISO 8601 with microseconds. */
  readonly registered_at: string;
  readonly is_system_tenant: boolean;
  readonly user_count: number;
  readonly role_count: number;
}

export interface TenantPage {
  readonly tenants: readonly TenantSummary[];
  /** Number of tenants in the database, the System Operations tenant included. */
  readonly total: number;
  readonly limit: number;
  readonly offset: number;
}

export interface ListTenantsOptions {
  /** Maximum number of tenants to return, 1 to 1000. The database's default is 100. */
  readonly limit?: number;
  readonly offset?: number;
}

/**
 * Lists tenants in order of registration through `api.tenant_list`, which only members of
 * `onevault_system_operations` may execute. Returns the response. Throws `OnevaultError` only when
 * the function cannot be called (see `callApiFunction`).
 */
export function listTenants(client: Queryable, options: ListTenantsOptions = {}): Promise<ApiResponse<TenantPage>> {
  return callApiFunction<TenantPage>(client, 'tenant_list', { ...options });
}
