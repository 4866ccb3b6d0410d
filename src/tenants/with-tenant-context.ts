import type { ClientBase } from 'pg';

import { OnevaultError } from '../errors';

/** Name of the setting that the row level security policies of V002 compare every row's tenant_hk with. */
export const CURRENT_TENANT_SETTING = 'onevault.current_tenant_hk';

const TENANT_ID_PATTERN = /^[0-9a-fA-F]{64}$/;

/**
 * Runs `work` in a transaction whose current tenant is `tenantId` (64 hex digits), so that row
 * level security shows and accepts only that tenant's rows. The setting is transaction-local
 * (`set_config(..., true)`), so it ends with the transaction and a pooled connection does not
 * carry it to its next user.
 * Commits when `work` resolves; rolls back and rethrows when it throws. Throws `INVALID_ARGUMENT`
 * for a malformed tenant id before opening the transaction. Do not call it inside an open
 * transaction: its BEGIN and COMMIT would end that transaction.
 */
export async function withTenantContext<T>(client: ClientBase, tenantId: string, work: () => Promise<T>): Promise<T> {
  if (!TENANT_ID_PATTERN.test(tenantId)) {
    throw new OnevaultError('INVALID_ARGUMENT', `"${tenantId}" is not a tenant id.`, { hint: 'Give the tenant id as 64 hexadecimal digits, as tenant register and tenant list print it.' });
  }

  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_catalog.set_config($1, $2, true)', [CURRENT_TENANT_SETTING, tenantId.toLowerCase()]);
    const result = await work();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
