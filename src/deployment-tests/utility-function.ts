import { expectEqual, expectThat, groupOf, type CheckGroup } from './check-result';
import { SYSTEM_OPERATIONS } from './system-operations';

const VOLATILITY: Readonly<Record<string, string>> = { i: 'IMMUTABLE', s: 'STABLE', v: 'VOLATILE' };

export const utilityFunctionChecks: CheckGroup = groupOf('utility function', [
  {
    name: 'function exists and returns bytea',
    run: async (context) => {
      const rows = (
        await context.client.query<{ result: string }>(
          `SELECT pg_get_function_result(p.oid) AS result
           FROM pg_catalog.pg_proc AS p
           WHERE p.oid = to_regprocedure($1)`,
          [`${SYSTEM_OPERATIONS.functionName}()`],
        )
      ).rows;
      return expectEqual(rows.length === 0 ? 'missing' : `${SYSTEM_OPERATIONS.functionName}() returns ${rows[0].result}`, `${SYSTEM_OPERATIONS.functionName}() returns bytea`);
    },
  },
  {
    name: 'function returns the tenant key',
    run: async (context) => {
      const exists = (await context.client.query<{ present: boolean }>(`SELECT to_regprocedure($1) IS NOT NULL AS present`, [`${SYSTEM_OPERATIONS.functionName}()`])).rows[0].present;
      if (!exists) return expectThat(false, 'function missing', SYSTEM_OPERATIONS.tenantHkHex);
      const value = (await context.client.query<{ value: string | null }>(`SELECT encode(util.get_system_operations_tenant_hk(), 'hex') AS value`)).rows[0].value;
      return expectEqual(value ?? 'NULL', SYSTEM_OPERATIONS.tenantHkHex);
    },
  },
  {
    name: 'function is immutable',
    run: async (context) => {
      const rows = (await context.client.query<{ volatility: string }>(`SELECT provolatile AS volatility FROM pg_catalog.pg_proc WHERE oid = to_regprocedure($1)`, [`${SYSTEM_OPERATIONS.functionName}()`])).rows;
      const found = rows.length === 0 ? 'function missing' : VOLATILITY[rows[0].volatility] ?? rows[0].volatility;
      return expectEqual(found, 'IMMUTABLE', 'An IMMUTABLE SQL function is inlined as a constant, so predicates that call it can use the partial index on auth.tenant_profile_s.');
    },
  },
]);
