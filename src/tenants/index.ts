export { callApiFunction, type ApiResponse, type ApiFailure, type ApiSuccess, type Queryable, type RuleViolation, type TenantApiErrorCode } from './api-response';
export { registerTenant, type RegisteredTenant, type TenantRegistrationRequest, type TenantRole } from './register-tenant';
export { listTenants, type ListTenantsOptions, type TenantPage, type TenantSummary } from './list-tenants';
export { getTenant, type TenantAdministrator, type TenantDetails, type TenantRoleDetails } from './get-tenant';
export { CURRENT_TENANT_SETTING, withTenantContext } from './with-tenant-context';
