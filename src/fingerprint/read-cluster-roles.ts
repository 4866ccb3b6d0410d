import type { ClientBase } from 'pg';

import type { CatalogObject, Fingerprint } from './fingerprint';
import { objectKeyOf } from './fingerprint';

// pg_roles shows every role with its attributes but masks the password, so a changed password is
// not seen. The predefined roles (pg_*) are left out because no ALTER ROLE changes them.
const ROLES_QUERY = `SELECT r.rolname AS name,
       r.rolsuper AS superuser,
       r.rolinherit AS inherit,
       r.rolcreaterole AS "createRole",
       r.rolcreatedb AS "createDatabase",
       r.rolcanlogin AS login,
       r.rolreplication AS replication,
       r.rolbypassrls AS "bypassRowLevelSecurity",
       r.rolconnlimit AS "connectionLimit",
       COALESCE(pg_catalog.to_char(r.rolvaliduntil AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), 'infinity') AS "validUntil"
FROM pg_catalog.pg_roles AS r
WHERE r.rolname !~ '^pg_'
ORDER BY 1`;

const MEMBERSHIPS_QUERY = `SELECT format('%I in %I', member.rolname, granted.rolname) AS name,
       m.admin_option
FROM pg_catalog.pg_auth_members AS m
JOIN pg_catalog.pg_roles AS granted ON granted.oid = m.roleid
JOIN pg_catalog.pg_roles AS member ON member.oid = m.member
ORDER BY 1`;

// Settings stored for the current database are in the fingerprint already (kind "database
// settings"). These are the others: a role's settings for every database (setdatabase = 0) and
// settings stored for other databases, all of which outlive a scratch database.
const ROLE_SETTINGS_QUERY = `SELECT CASE
         WHEN s.setdatabase = 0 THEN format('for role %I in every database', r.rolname)
         WHEN s.setrole = 0 THEN format('for every role in database %I', d.datname)
         ELSE format('for role %I in database %I', r.rolname, d.datname)
       END AS name,
       ARRAY(SELECT setting FROM pg_catalog.unnest(s.setconfig) AS setting ORDER BY 1) AS settings
FROM pg_catalog.pg_db_role_setting AS s
LEFT JOIN pg_catalog.pg_roles AS r ON r.oid = s.setrole
LEFT JOIN pg_catalog.pg_database AS d ON d.oid = s.setdatabase
WHERE s.setdatabase <> (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
ORDER BY 1`;

/**
 * Reads the cluster-wide state that a migration can change from inside any database: the
 * attributes of every role except the predefined pg_* ones, role memberships, and the settings in
 * pg_db_role_setting that are not stored for the current database. Returns it as a fingerprint
 * without schemas or rows, so that `diffFingerprints` compares two readings. Read-only; throws the
 * driver's error when a query fails.
 *
 * NOTE: other sessions on the same server change roles too, so a difference between two readings
 * is not always the work of the session in between.
 */
export async function readClusterRoles(client: ClientBase): Promise<Fingerprint> {
  const objects: Record<string, CatalogObject> = {};
  const add = (object: CatalogObject): void => {
    objects[objectKeyOf(object)] = object;
  };

  for (const row of (await client.query<Record<string, string | number | boolean>>(ROLES_QUERY)).rows) {
    const { name, ...attributes } = row;
    add({ kind: 'role', name: String(name), schema: null, relation: null, attributes });
  }
  for (const row of (await client.query<{ name: string; admin_option: boolean }>(MEMBERSHIPS_QUERY)).rows) {
    add({ kind: 'role membership', name: row.name, schema: null, relation: null, attributes: { adminOption: row.admin_option } });
  }
  for (const row of (await client.query<{ name: string; settings: string[] }>(ROLE_SETTINGS_QUERY)).rows) {
    add({ kind: 'role settings', name: row.name, schema: null, relation: null, attributes: { settings: row.settings } });
  }

  return { formatVersion: 1, schemas: [], objects, tableRows: {} };
}
