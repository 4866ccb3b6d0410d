import { findApiExecuteDifferences, findPolicyDifferences } from '../health/compare-isolation';
import { isIsolationApplied } from '../health/read-tenant-isolation';
import { expectEqual, expectThat, groupOf, listText, type CheckGroup } from './check-result';
import { SYSTEM_OPERATIONS } from './system-operations';

/** Roles that V001 grants EXECUTE on the tenant-key function to, when they exist. */
export const FUNCTION_GRANTEES = ['onevault_app', 'app_user'] as const;

/** Tables that hold tenant and role rows; no role but their owner may hold a privilege on them. */
export const PROTECTED_TABLES = ['auth.tenant_h', 'auth.tenant_profile_s', 'auth.role_h', 'auth.role_profile_s'] as const;

// aclexplode of a NULL ACL gives nothing, but NULL means the default privileges, which give
// EXECUTE on functions to PUBLIC. acldefault supplies them so that the check finds that grant.
const FUNCTION_GRANTS_SQL = `SELECT CASE WHEN acl.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(acl.grantee) END AS grantee, acl.privilege_type
FROM pg_catalog.pg_proc AS p
CROSS JOIN LATERAL aclexplode(COALESCE(p.proacl, acldefault('f', p.proowner))) AS acl
WHERE p.oid = to_regprocedure($1)
  AND acl.grantee <> p.proowner
ORDER BY 1`;

const TABLE_GRANTS_SQL = `SELECT format('%s on %s', CASE WHEN acl.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(acl.grantee) END, t.name) AS grant_text
FROM unnest($1::text[]) AS t(name)
JOIN pg_catalog.pg_class AS c ON c.oid = to_regclass(t.name)
CROSS JOIN LATERAL aclexplode(COALESCE(c.relacl, acldefault('r', c.relowner))) AS acl
WHERE acl.grantee <> c.relowner
GROUP BY acl.grantee, t.name
ORDER BY 1`;

/** Roles the application connects as; they reach platform data through api functions only. */
export const APPLICATION_ROLES = ['onevault_app', 'app_user', 'onevault_system_operations'] as const;

/** Schemas whose tables hold platform data, the migration log and the audit trail. */
export const DATA_SCHEMAS = ['auth', 'raw', 'staging', 'audit', 'util'] as const;

// Relations of every kind that carries privileges: tables, partitioned tables, views, materialized
// views, foreign tables and sequences. The backup schemas of rollbacks are not among DATA_SCHEMAS.
const OPEN_TABLE_GRANTS_SQL = `SELECT format('%s to %s on %I.%I', string_agg(acl.privilege_type, ', ' ORDER BY acl.privilege_type), CASE WHEN acl.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(acl.grantee) END, n.nspname, c.relname) AS grant_text
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
CROSS JOIN LATERAL aclexplode(COALESCE(c.relacl, acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char", c.relowner))) AS acl
WHERE n.nspname = ANY ($1::text[])
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
  AND acl.grantee <> c.relowner
  AND (acl.grantee = 0 OR pg_get_userbyid(acl.grantee) = ANY ($2::text[]))
GROUP BY acl.grantee, n.nspname, c.relname
ORDER BY n.nspname, c.relname, 1`;

const SECURITY_DEFINER_SQL = `SELECT format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)) AS name,
       EXISTS (SELECT 1 FROM unnest(p.proconfig) AS setting WHERE setting LIKE 'search\\_path=%') AS pins_search_path
FROM pg_catalog.pg_proc AS p
JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
WHERE p.prosecdef
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend AS d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
ORDER BY 1`;

const API_PUBLIC_EXECUTE_SQL = `SELECT format('api.%I(%s)', p.proname, pg_get_function_identity_arguments(p.oid)) AS name,
       EXISTS (
         SELECT 1 FROM aclexplode(COALESCE(p.proacl, acldefault('f', p.proowner))) AS acl
         WHERE acl.grantee = 0 AND acl.privilege_type = 'EXECUTE'
       ) AS public_execute
FROM pg_catalog.pg_proc AS p
JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
WHERE n.nspname = 'api'
ORDER BY 1`;

export const securityChecks: CheckGroup = groupOf('security', [
  {
    name: 'exactly one system tenant',
    run: async (context) => {
      const rows = (
        await context.client.query<{ tenant: string }>(
          `SELECT format('%s %s', h.tenant_bk, encode(h.tenant_hk, 'hex')) AS tenant
           FROM auth.tenant_h AS h
           WHERE h.tenant_bk = $1
              OR EXISTS (SELECT 1 FROM auth.tenant_profile_s AS p WHERE p.tenant_hk = h.tenant_hk AND p.load_end_date IS NULL AND p.tenant_type = 'SYSTEM')
           ORDER BY 1`,
          [SYSTEM_OPERATIONS.tenantBk],
        )
      ).rows;
      return expectEqual(listText(rows.map((row) => row.tenant)), listText([`${SYSTEM_OPERATIONS.tenantBk} ${SYSTEM_OPERATIONS.tenantHkHex}`]), 'Counts tenants with business key SYSTEM_OPERATIONS or a current profile of type SYSTEM.');
    },
  },
  {
    name: 'function grants only to application roles',
    run: async (context) => {
      const rows = (await context.client.query<{ grantee: string; privilege_type: string }>(FUNCTION_GRANTS_SQL, [`${SYSTEM_OPERATIONS.functionName}()`])).rows;
      const unexpected = rows.filter((row) => !(FUNCTION_GRANTEES as readonly string[]).includes(row.grantee)).map((row) => `${row.privilege_type} to ${row.grantee}`);
      return expectThat(
        unexpected.length === 0,
        `grants besides the owner: ${listText(rows.map((row) => `${row.privilege_type} to ${row.grantee}`))}`,
        `EXECUTE only to ${listText([...FUNCTION_GRANTEES])}, never to PUBLIC`,
      );
    },
  },
  {
    name: 'no grants on tenant and role tables',
    run: async (context) => {
      const rows = (await context.client.query<{ grant_text: string }>(TABLE_GRANTS_SQL, [PROTECTED_TABLES])).rows;
      return expectEqual(
        `privileges of roles other than the owner: ${listText(rows.map((row) => row.grant_text))}`,
        'privileges of roles other than the owner: none',
        `Tables checked: ${PROTECTED_TABLES.join(', ')}. Applications reach them through api functions only.`,
      );
    },
  },
  {
    name: 'no table grants to PUBLIC or application roles',
    run: async (context) => {
      const rows = (await context.client.query<{ grant_text: string }>(OPEN_TABLE_GRANTS_SQL, [DATA_SCHEMAS, APPLICATION_ROLES])).rows;
      return expectEqual(
        `grants: ${listText(rows.map((row) => row.grant_text))}`,
        'grants: none',
        `Relations checked: every table, view and sequence in ${DATA_SCHEMAS.join(', ')}. Grantees checked: PUBLIC, ${APPLICATION_ROLES.join(', ')}. Applications reach platform data through api functions only; REVOKE the grants listed.`,
      );
    },
  },
  {
    name: 'security definer functions pin search_path',
    run: async (context) => {
      const rows = (await context.client.query<{ name: string; pins_search_path: boolean }>(SECURITY_DEFINER_SQL)).rows;
      const unpinned = rows.filter((row) => !row.pins_search_path).map((row) => row.name);
      return expectThat(
        unpinned.length === 0,
        `${rows.length} SECURITY DEFINER functions, without SET search_path: ${listText(unpinned)}`,
        'every SECURITY DEFINER function has SET search_path',
        'Without it, a caller can put a schema of their own first on the search path and run code with the owner\'s rights.',
      );
    },
  },
  {
    name: 'no api function executable by PUBLIC',
    run: async (context) => {
      const rows = (await context.client.query<{ name: string; public_execute: boolean }>(API_PUBLIC_EXECUTE_SQL)).rows;
      if (rows.length === 0) {
        return { status: 'SKIPPED', found: 'schema api has no functions yet', expected: 'no api function executable by PUBLIC', note: 'The check applies once api has functions.' };
      }
      const open = rows.filter((row) => row.public_execute).map((row) => row.name);
      return expectThat(open.length === 0, `${rows.length} api functions, executable by PUBLIC: ${listText(open)}`, 'none executable by PUBLIC');
    },
  },
  {
    name: 'tenant policies match V002',
    run: async (context) => {
      if (!(await isIsolationApplied(context.client))) {
        return { status: 'SKIPPED', found: 'V002 is not applied', expected: 'the policies of V002 on every tenant-scoped table', note: 'The check applies once V002 is applied.' };
      }
      const differences = await findPolicyDifferences(context.client);
      return expectThat(
        differences.length === 0,
        `policy differences: ${listText(differences)}`,
        'on every tenant-scoped table exactly onevault_tenant_isolation and onevault_migration_owner, as V002 defines them',
        'Compared from pg_policies: name, PERMISSIVE or RESTRICTIVE, roles, command, USING and WITH CHECK. onevault deploy --reapply restores the policies of V002; DROP POLICY any extra one.',
      );
    },
  },
  {
    name: 'api EXECUTE matches V002 grants',
    run: async (context) => {
      if (!(await isIsolationApplied(context.client))) {
        return { status: 'SKIPPED', found: 'V002 is not applied', expected: 'EXECUTE on api functions as V002 grants it', note: 'The check applies once V002 is applied.' };
      }
      const differences = await findApiExecuteDifferences(context.client);
      return expectThat(
        differences.length === 0,
        `grant differences: ${listText(differences)}`,
        'onevault_app: api.tenant_register(jsonb) only; onevault_system_operations: every api function; PUBLIC and other roles: none',
        'Grants read from the ACL of each function in schema api; the owner is not compared. REVOKE EXECUTE from the roles listed, GRANT it to the roles missing.',
      );
    },
  },
]);
