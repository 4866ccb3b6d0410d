/**
 * Fixed values of the System Operations Tenant that migration V001 creates. The deployment tests,
 * the health report and the checklist compare the database against these.
 */
export const SYSTEM_OPERATIONS = {
  version: 'V001',
  /** 31 zero bytes followed by 0x01, as lower-case hex. */
  tenantHkHex: `${'00'.repeat(31)}01`,
  tenantBk: 'SYSTEM_OPERATIONS',
  tenantName: 'System Operations Tenant',
  tenantType: 'SYSTEM',
  tenantStatus: 'ACTIVE',
  maxUsers: 999,
  roleBk: 'SYSTEM_OPERATIONS_ADMIN',
  /** SHA-256 of the UTF-8 bytes of `SYSTEM_OPERATIONS_ADMIN`. */
  roleHkHex: '8a342a639b76f86163cf37dd3606eb66a5e2782ad076b0fd87161d45face6ef1',
  roleName: 'System Operations Administrator',
  roleType: 'SYSTEM',
  permissions: ['SYSTEM_ADMIN', 'TENANT_REGISTRATION', 'PRE_REGISTRATION_MANAGEMENT', 'SYSTEM_MONITORING', 'DATA_MIGRATION', 'BACKUP_MANAGEMENT'],
  functionName: 'util.get_system_operations_tenant_hk',
  indexes: [
    { schema: 'auth', table: 'tenant_h', name: 'idx_tenant_h_system_lookup' },
    { schema: 'auth', table: 'tenant_profile_s', name: 'idx_tenant_profile_s_system_active' },
  ],
  /** Prefix of the schemas in which rollbacks keep the rows they removed. */
  backupSchemaPrefix: 'onevault_backup_',
} as const;

export type SystemIndex = (typeof SYSTEM_OPERATIONS.indexes)[number];
