import { escapeLiteral } from 'pg';
import type { ClientBase, QueryResult } from 'pg';

import { OnevaultError } from '../errors';
import type { AttributeValue, CatalogObject, ObjectKind } from './fingerprint';

// Every query takes the covered schema names as $1. Objects that belong to an extension are left
// out because the extension's name and version stand for them.
const NOT_EXTENSION_MEMBER = (catalog: string, alias: string): string => `NOT EXISTS (
    SELECT 1 FROM pg_depend dep
    WHERE dep.classid = '${catalog}'::regclass AND dep.objid = ${alias}.oid AND dep.deptype = 'e'
  )`;

// ACL arrays are sorted, and a NULL ACL (never granted or revoked) is replaced by the default it
// stands for, so that GRANT followed by REVOKE compares equal to never granting.
const SORTED_ACL = (acl: string, defaultKindSql: string, owner: string): string =>
  `ARRAY(SELECT item::text FROM unnest(coalesce(${acl}, acldefault(${defaultKindSql}, ${owner}))) AS item ORDER BY 1)`;

const SCHEMAS_SQL = `
SELECT
  quote_ident(n.nspname) AS name,
  n.nspname AS schema,
  pg_get_userbyid(n.nspowner) AS owner,
  obj_description(n.oid, 'pg_namespace') AS comment,
  ${SORTED_ACL('n.nspacl', "'n'", 'n.nspowner')} AS acl
FROM pg_namespace AS n
WHERE n.nspname = ANY ($1::text[])`;

const RELATIONS_SQL = `
SELECT
  format('%I.%I', n.nspname, c.relname) AS name,
  n.nspname AS schema,
  c.relname AS relation,
  c.relkind AS relkind,
  pg_get_userbyid(c.relowner) AS owner,
  c.relpersistence AS persistence,
  c.relrowsecurity AS row_security,
  c.relforcerowsecurity AS row_security_forced,
  c.relreplident AS replica_identity,
  obj_description(c.oid, 'pg_class') AS comment,
  ${SORTED_ACL('c.relacl', `(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END)::"char"`, 'c.relowner')} AS acl,
  ARRAY(SELECT option FROM unnest(coalesce(c.reloptions, '{}')) AS option ORDER BY 1) AS storage_options,
  CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid, true) END AS definition,
  CASE WHEN c.relkind = 'm' THEN c.relispopulated END AS populated,
  CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partition_key,
  CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END AS partition_bound,
  ARRAY(
    SELECT format('%I.%I', parent_namespace.nspname, parent.relname)
    FROM pg_inherits AS inheritance
    JOIN pg_class AS parent ON parent.oid = inheritance.inhparent
    JOIN pg_namespace AS parent_namespace ON parent_namespace.oid = parent.relnamespace
    WHERE inheritance.inhrelid = c.oid
    ORDER BY 1
  ) AS parents,
  format_type(s.seqtypid, NULL) AS sequence_type,
  s.seqstart::text AS sequence_start,
  s.seqincrement::text AS sequence_increment,
  s.seqmin::text AS sequence_min,
  s.seqmax::text AS sequence_max,
  s.seqcache::text AS sequence_cache,
  s.seqcycle AS sequence_cycle,
  (
    SELECT format('%I.%I.%I', owner_namespace.nspname, owner_table.relname, owner_column.attname)
    FROM pg_depend AS dep
    JOIN pg_class AS owner_table ON owner_table.oid = dep.refobjid
    JOIN pg_namespace AS owner_namespace ON owner_namespace.oid = owner_table.relnamespace
    JOIN pg_attribute AS owner_column ON owner_column.attrelid = dep.refobjid AND owner_column.attnum = dep.refobjsubid
    WHERE c.relkind = 'S' AND dep.classid = 'pg_class'::regclass AND dep.objid = c.oid
      AND dep.refclassid = 'pg_class'::regclass AND dep.refobjsubid > 0 AND dep.deptype IN ('a', 'i')
    LIMIT 1
  ) AS sequence_owned_by
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
LEFT JOIN pg_sequence AS s ON s.seqrelid = c.oid
WHERE n.nspname = ANY ($1::text[])
  AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  AND ${NOT_EXTENSION_MEMBER('pg_class', 'c')}`;

const COLUMNS_SQL = `
SELECT
  format('%I.%I.%I', n.nspname, c.relname, a.attname) AS name,
  n.nspname AS schema,
  c.relname AS relation,
  (row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum))::int AS position,
  format_type(a.atttypid, a.atttypmod) AS type,
  pg_get_expr(d.adbin, d.adrelid) AS default_expression,
  a.attnotnull AS not_null,
  a.attidentity AS identity,
  a.attgenerated AS generated,
  CASE WHEN a.attcollation <> t.typcollation THEN column_collation.collname::text END AS collation,
  col_description(c.oid, a.attnum) AS comment,
  ARRAY(SELECT item::text FROM unnest(coalesce(a.attacl, '{}')) AS item ORDER BY 1) AS acl
FROM pg_attribute AS a
JOIN pg_class AS c ON c.oid = a.attrelid
JOIN pg_namespace AS n ON n.oid = c.relnamespace
JOIN pg_type AS t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
LEFT JOIN pg_collation AS column_collation ON column_collation.oid = a.attcollation
WHERE n.nspname = ANY ($1::text[])
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND a.attnum > 0
  AND NOT a.attisdropped
  AND ${NOT_EXTENSION_MEMBER('pg_class', 'c')}`;

const CONSTRAINTS_SQL = `
SELECT
  format('%I.%I.%I', n.nspname, c.relname, con.conname) AS name,
  n.nspname AS schema,
  c.relname AS relation,
  con.contype AS constraint_type,
  pg_get_constraintdef(con.oid, true) AS definition,
  con.convalidated AS validated,
  obj_description(con.oid, 'pg_constraint') AS comment
FROM pg_constraint AS con
JOIN pg_class AS c ON c.oid = con.conrelid
JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = ANY ($1::text[])
  AND ${NOT_EXTENSION_MEMBER('pg_class', 'c')}`;

const INDEXES_SQL = `
SELECT
  format('%I.%I', n.nspname, index_class.relname) AS name,
  n.nspname AS schema,
  table_class.relname AS relation,
  pg_get_indexdef(i.indexrelid) AS definition,
  i.indisvalid AS valid,
  i.indisunique AS "unique",
  i.indisprimary AS "primary",
  obj_description(index_class.oid, 'pg_class') AS comment
FROM pg_index AS i
JOIN pg_class AS index_class ON index_class.oid = i.indexrelid
JOIN pg_class AS table_class ON table_class.oid = i.indrelid
JOIN pg_namespace AS n ON n.oid = index_class.relnamespace
WHERE n.nspname = ANY ($1::text[])
  AND ${NOT_EXTENSION_MEMBER('pg_class', 'table_class')}`;

const TRIGGERS_SQL = `
SELECT
  format('%I.%I.%I', n.nspname, c.relname, t.tgname) AS name,
  n.nspname AS schema,
  c.relname AS relation,
  pg_get_triggerdef(t.oid, true) AS definition,
  t.tgenabled AS enabled,
  obj_description(t.oid, 'pg_trigger') AS comment
FROM pg_trigger AS t
JOIN pg_class AS c ON c.oid = t.tgrelid
JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = ANY ($1::text[])
  AND NOT t.tgisinternal
  AND ${NOT_EXTENSION_MEMBER('pg_class', 'c')}`;

const POLICIES_SQL = `
SELECT
  format('%I.%I.%I', n.nspname, c.relname, p.polname) AS name,
  n.nspname AS schema,
  c.relname AS relation,
  p.polcmd AS command,
  p.polpermissive AS permissive,
  ARRAY(
    SELECT CASE WHEN role_id = 0 THEN 'public' ELSE pg_get_userbyid(role_id)::text END
    FROM unnest(p.polroles) AS role_id
    ORDER BY 1
  ) AS roles,
  pg_get_expr(p.polqual, p.polrelid) AS using_expression,
  pg_get_expr(p.polwithcheck, p.polrelid) AS with_check_expression,
  obj_description(p.oid, 'pg_policy') AS comment
FROM pg_policy AS p
JOIN pg_class AS c ON c.oid = p.polrelid
JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = ANY ($1::text[])`;

// prosqlbody (a BEGIN ATOMIC body) exists from PostgreSQL 14 on.
const ROUTINES_SQL = `
SELECT
  format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)) AS name,
  n.nspname AS schema,
  p.prokind AS routine_kind,
  pg_get_function_arguments(p.oid) AS arguments,
  pg_get_function_result(p.oid) AS result,
  CASE WHEN p.prosqlbody IS NOT NULL THEN pg_get_function_sqlbody(p.oid) ELSE p.prosrc END AS body,
  p.probin AS object_file,
  l.lanname::text AS language,
  p.provolatile AS volatility,
  p.proisstrict AS strict,
  p.prosecdef AS security_definer,
  p.proleakproof AS leakproof,
  p.proparallel AS parallel,
  p.procost::float8 AS cost,
  p.prorows::float8 AS estimated_rows,
  ARRAY(SELECT setting FROM unnest(coalesce(p.proconfig, '{}')) AS setting ORDER BY 1) AS settings,
  pg_get_userbyid(p.proowner) AS owner,
  ${SORTED_ACL('p.proacl', "'f'", 'p.proowner')} AS acl,
  obj_description(p.oid, 'pg_proc') AS comment
FROM pg_proc AS p
JOIN pg_namespace AS n ON n.oid = p.pronamespace
JOIN pg_language AS l ON l.oid = p.prolang
WHERE n.nspname = ANY ($1::text[])
  AND ${NOT_EXTENSION_MEMBER('pg_proc', 'p')}`;

// Array types, multirange types and the row types of tables are created with their owner object
// and are left out. Standalone composite types (relkind 'c') are kept.
const TYPES_SQL = `
SELECT
  format('%I.%I', n.nspname, t.typname) AS name,
  n.nspname AS schema,
  t.typtype AS type_kind,
  pg_get_userbyid(t.typowner) AS owner,
  obj_description(t.oid, 'pg_type') AS comment,
  ${SORTED_ACL('t.typacl', "'T'", 't.typowner')} AS acl,
  CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END AS base_type,
  CASE WHEN t.typtype = 'd' THEN t.typnotnull END AS not_null,
  CASE WHEN t.typtype = 'd' THEN t.typdefault END AS default_expression,
  CASE WHEN t.typtype = 'd' THEN ARRAY(
    SELECT format('%I %s', con.conname, pg_get_constraintdef(con.oid, true))
    FROM pg_constraint AS con
    WHERE con.contypid = t.oid
    ORDER BY 1
  ) END AS domain_constraints,
  CASE WHEN t.typtype = 'e' THEN ARRAY(
    SELECT e.enumlabel::text FROM pg_enum AS e WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder
  ) END AS labels,
  CASE WHEN t.typtype = 'c' THEN ARRAY(
    SELECT format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod))
    FROM pg_attribute AS a
    WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY a.attnum
  ) END AS composite_attributes,
  CASE WHEN t.typtype = 'r' THEN (
    SELECT format_type(r.rngsubtype, NULL) FROM pg_range AS r WHERE r.rngtypid = t.oid
  ) END AS range_subtype
FROM pg_type AS t
JOIN pg_namespace AS n ON n.oid = t.typnamespace
WHERE n.nspname = ANY ($1::text[])
  AND t.typtype IN ('c', 'd', 'e', 'r')
  AND (t.typtype <> 'c' OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
  AND ${NOT_EXTENSION_MEMBER('pg_type', 't')}`;

// Extensions are database-wide, so every installed extension is listed whatever the schema list.
const EXTENSIONS_SQL = `
SELECT
  quote_ident(e.extname) AS name,
  n.nspname AS schema,
  e.extversion AS version
FROM pg_extension AS e
JOIN pg_namespace AS n ON n.oid = e.extnamespace`;

const DEFAULT_PRIVILEGES_SQL = `
SELECT
  format(
    'for role %I%s on %s',
    pg_get_userbyid(d.defaclrole),
    CASE WHEN d.defaclnamespace = 0 THEN '' ELSE format(' in schema %I', n.nspname) END,
    CASE d.defaclobjtype
      WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences' WHEN 'f' THEN 'functions'
      WHEN 'T' THEN 'types' WHEN 'n' THEN 'schemas' ELSE d.defaclobjtype::text
    END
  ) AS name,
  n.nspname AS schema,
  ARRAY(SELECT item::text FROM unnest(d.defaclacl) AS item ORDER BY 1) AS acl
FROM pg_default_acl AS d
LEFT JOIN pg_namespace AS n ON n.oid = d.defaclnamespace
WHERE d.defaclnamespace = 0 OR n.nspname = ANY ($1::text[])`;

// Settings that ALTER DATABASE ... SET (setrole 0) and ALTER ROLE ... IN DATABASE ... SET store for
// the current database. Settings of a role for every database (setdatabase 0) belong to the
// cluster and are left out, like roles.
const DATABASE_SETTINGS_SQL = `
SELECT
  CASE WHEN s.setrole = 0 THEN 'for all roles' ELSE format('for role %I', coalesce(r.rolname::text, s.setrole::text)) END AS name,
  NULL::text AS schema,
  ARRAY(SELECT setting FROM unnest(s.setconfig) AS setting ORDER BY 1) AS settings
FROM pg_db_role_setting AS s
JOIN pg_database AS d ON d.oid = s.setdatabase
LEFT JOIN pg_roles AS r ON r.oid = s.setrole
WHERE d.datname = current_database()`;

type Row = Record<string, unknown>;

/**
 * Reads the catalog objects of the given schemas, plus extensions, default privileges and the
 * settings stored for the current database (`pg_db_role_setting`).
 * Throws the driver's error when a query fails. All queries travel as one simple-protocol query,
 * so the read costs one round trip. Its statements still take their own snapshots, so the result
 * is consistent only while no other session changes the schema.
 */
export async function readCatalog(client: ClientBase, schemas: readonly string[]): Promise<CatalogObject[]> {
  const [
    schemaRows,
    relationRows,
    columnRows,
    constraintRows,
    indexRows,
    triggerRows,
    policyRows,
    routineRows,
    typeRows,
    extensionRows,
    defaultPrivilegeRows,
    databaseSettingRows,
  ] = await runCatalogQueries(client, schemas, [
    SCHEMAS_SQL,
    RELATIONS_SQL,
    COLUMNS_SQL,
    CONSTRAINTS_SQL,
    INDEXES_SQL,
    TRIGGERS_SQL,
    POLICIES_SQL,
    ROUTINES_SQL,
    TYPES_SQL,
    EXTENSIONS_SQL,
    DEFAULT_PRIVILEGES_SQL,
    DATABASE_SETTINGS_SQL,
  ]);

  const objects: CatalogObject[] = [];

  for (const row of schemaRows) {
    objects.push(objectOf('schema', row, null, { owner: row.owner, comment: row.comment, acl: row.acl }));
  }

  for (const row of relationRows) {
    objects.push(relationObjectOf(row));
  }

  for (const row of columnRows) {
    objects.push(
      objectOf('column', row, row.relation, {
        position: row.position,
        type: row.type,
        default: row.default_expression,
        notNull: row.not_null,
        identity: IDENTITY_KINDS[String(row.identity)] ?? null,
        generated: GENERATED_KINDS[String(row.generated)] ?? null,
        collation: row.collation,
        comment: row.comment,
        acl: row.acl,
      }),
    );
  }

  for (const row of constraintRows) {
    objects.push(
      objectOf('constraint', row, row.relation, {
        constraintType: CONSTRAINT_TYPES[String(row.constraint_type)] ?? String(row.constraint_type),
        definition: row.definition,
        validated: row.validated,
        comment: row.comment,
      }),
    );
  }

  for (const row of indexRows) {
    objects.push(
      objectOf('index', row, row.relation, {
        definition: row.definition,
        valid: row.valid,
        unique: row.unique,
        primary: row.primary,
        comment: row.comment,
      }),
    );
  }

  for (const row of triggerRows) {
    objects.push(
      objectOf('trigger', row, row.relation, {
        definition: row.definition,
        enabled: TRIGGER_FIRING[String(row.enabled)] ?? String(row.enabled),
        comment: row.comment,
      }),
    );
  }

  for (const row of policyRows) {
    objects.push(
      objectOf('policy', row, row.relation, {
        command: POLICY_COMMANDS[String(row.command)] ?? String(row.command),
        permissive: row.permissive,
        roles: row.roles,
        using: row.using_expression,
        withCheck: row.with_check_expression,
        comment: row.comment,
      }),
    );
  }

  for (const row of routineRows) {
    objects.push(routineObjectOf(row));
  }

  for (const row of typeRows) {
    objects.push(
      objectOf('type', row, null, {
        typeKind: TYPE_KINDS[String(row.type_kind)] ?? String(row.type_kind),
        owner: row.owner,
        comment: row.comment,
        acl: row.acl,
        baseType: row.base_type,
        notNull: row.not_null,
        default: row.default_expression,
        domainConstraints: row.domain_constraints,
        labels: row.labels,
        compositeAttributes: row.composite_attributes,
        rangeSubtype: row.range_subtype,
      }),
    );
  }

  for (const row of extensionRows) {
    objects.push(objectOf('extension', row, null, { schema: row.schema, version: row.version }));
  }

  for (const row of defaultPrivilegeRows) {
    objects.push(objectOf('default privileges', row, null, { acl: row.acl }));
  }

  for (const row of databaseSettingRows) {
    objects.push(objectOf('database settings', row, null, { settings: row.settings }));
  }

  return objects;
}

// Each query names the schema list as $1::text[]. The batch replaces it with an array literal,
// because a simple-protocol query that carries several statements cannot take parameters.
const SCHEMA_LIST_PARAMETER = '$1::text[]';

async function runCatalogQueries(client: ClientBase, schemas: readonly string[], queries: readonly string[]): Promise<Row[][]> {
  const schemaList = `ARRAY[${schemas.map((schema) => escapeLiteral(schema)).join(', ')}]::text[]`;
  const batch = queries.map((sql) => sql.split(SCHEMA_LIST_PARAMETER).join(schemaList)).join(';\n');
  // With more than one statement node-postgres returns one result per statement.
  const results = (await client.query<Row>(batch)) as unknown as QueryResult<Row>[];
  return results.map((result) => result.rows);
}

const RELATION_KINDS: Readonly<Record<string, ObjectKind>> = {
  r: 'table',
  p: 'table',
  f: 'foreign table',
  v: 'view',
  m: 'materialized view',
  S: 'sequence',
};

const ROUTINE_KINDS: Readonly<Record<string, ObjectKind>> = {
  f: 'function',
  p: 'procedure',
  a: 'aggregate',
  w: 'window function',
};

const IDENTITY_KINDS: Readonly<Record<string, string>> = { a: 'always', d: 'by default' };
const GENERATED_KINDS: Readonly<Record<string, string>> = { s: 'stored' };
const CONSTRAINT_TYPES: Readonly<Record<string, string>> = {
  c: 'check',
  f: 'foreign key',
  p: 'primary key',
  u: 'unique',
  t: 'constraint trigger',
  x: 'exclusion',
};
const TRIGGER_FIRING: Readonly<Record<string, string>> = { O: 'origin', D: 'disabled', R: 'replica', A: 'always' };
const POLICY_COMMANDS: Readonly<Record<string, string>> = {
  r: 'SELECT',
  a: 'INSERT',
  w: 'UPDATE',
  d: 'DELETE',
  '*': 'ALL',
};
const TYPE_KINDS: Readonly<Record<string, string>> = { c: 'composite', d: 'domain', e: 'enum', r: 'range' };
const PERSISTENCE: Readonly<Record<string, string>> = { p: 'permanent', u: 'unlogged', t: 'temporary' };
const REPLICA_IDENTITY: Readonly<Record<string, string>> = { d: 'default', n: 'nothing', f: 'full', i: 'index' };
const VOLATILITY: Readonly<Record<string, string>> = { i: 'immutable', s: 'stable', v: 'volatile' };
const PARALLEL_SAFETY: Readonly<Record<string, string>> = { s: 'safe', r: 'restricted', u: 'unsafe' };

function relationObjectOf(row: Row): CatalogObject {
  const relkind = String(row.relkind);
  const kind = RELATION_KINDS[relkind];
  if (kind === undefined) throw new OnevaultError('INTERNAL_ERROR', `unexpected relkind ${relkind} for ${String(row.name)}`);

  const common = {
    owner: row.owner,
    comment: row.comment,
    acl: row.acl,
  };

  if (kind === 'sequence') {
    return objectOf(kind, row, row.relation, {
      ...common,
      persistence: PERSISTENCE[String(row.persistence)] ?? String(row.persistence),
      dataType: row.sequence_type,
      start: row.sequence_start,
      increment: row.sequence_increment,
      minValue: row.sequence_min,
      maxValue: row.sequence_max,
      cache: row.sequence_cache,
      cycle: row.sequence_cycle,
      ownedBy: row.sequence_owned_by,
    });
  }

  if (kind === 'view' || kind === 'materialized view') {
    return objectOf(kind, row, row.relation, {
      ...common,
      definition: row.definition,
      populated: row.populated,
      storageOptions: row.storage_options,
    });
  }

  return objectOf(kind, row, row.relation, {
    ...common,
    persistence: PERSISTENCE[String(row.persistence)] ?? String(row.persistence),
    rowSecurity: row.row_security,
    rowSecurityForced: row.row_security_forced,
    replicaIdentity: REPLICA_IDENTITY[String(row.replica_identity)] ?? String(row.replica_identity),
    storageOptions: row.storage_options,
    partitionKey: row.partition_key,
    partitionBound: row.partition_bound,
    parents: row.parents,
  });
}

function routineObjectOf(row: Row): CatalogObject {
  const routineKind = String(row.routine_kind);
  const kind = ROUTINE_KINDS[routineKind];
  if (kind === undefined) throw new OnevaultError('INTERNAL_ERROR', `unexpected prokind ${routineKind} for ${String(row.name)}`);

  return objectOf(kind, row, null, {
    arguments: row.arguments,
    result: row.result,
    language: row.language,
    body: row.body,
    objectFile: row.object_file,
    volatility: VOLATILITY[String(row.volatility)] ?? String(row.volatility),
    strict: row.strict,
    securityDefiner: row.security_definer,
    leakproof: row.leakproof,
    parallel: PARALLEL_SAFETY[String(row.parallel)] ?? String(row.parallel),
    cost: row.cost,
    estimatedRows: row.estimated_rows,
    settings: row.settings,
    owner: row.owner,
    acl: row.acl,
    comment: row.comment,
  });
}

function objectOf(kind: ObjectKind, row: Row, relation: unknown, attributes: Record<string, unknown>): CatalogObject {
  const checked: Record<string, AttributeValue> = {};
  for (const [key, value] of Object.entries(attributes)) checked[key] = attributeValueOf(value, key, row);

  return {
    kind,
    name: String(row.name),
    schema: row.schema === null || row.schema === undefined ? null : String(row.schema),
    relation: relation === null || relation === undefined ? null : String(relation),
    attributes: checked,
  };
}

function attributeValueOf(value: unknown, key: string, row: Row): AttributeValue {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  if (Array.isArray(value)) return value.map((item) => String(item));
  throw new OnevaultError('INTERNAL_ERROR', `unexpected value of ${key} for ${String(row.name)}: ${JSON.stringify(value)}`);
}
