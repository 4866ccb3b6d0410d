/**
 * Kinds of catalog object that a fingerprint records. Relations that hold rows (`table`,
 * `foreign table`) and relations defined by a query (`view`, `materialized view`) contain
 * columns, constraints, indexes, triggers and policies.
 */
export type ObjectKind =
  | 'schema'
  | 'table'
  | 'foreign table'
  | 'view'
  | 'materialized view'
  | 'sequence'
  | 'column'
  | 'constraint'
  | 'index'
  | 'trigger'
  | 'policy'
  | 'function'
  | 'procedure'
  | 'aggregate'
  | 'window function'
  | 'type'
  | 'extension'
  | 'default privileges'
  | 'database settings'
  // Cluster-wide kinds, read only by readClusterRoles and never part of takeFingerprint.
  | 'role'
  | 'role membership'
  | 'role settings';

/** Value of one compared property. Arrays are sorted unless their order has a meaning (enum labels). */
export type AttributeValue = string | number | boolean | null | readonly string[];

/** One catalog object, identified by its schema-qualified name so that two databases compare. */
export interface CatalogObject {
  readonly kind: ObjectKind;
  /** Display name: `schema.name`, `schema.table.column`, `schema.function(identity arguments)`. */
  readonly name: string;
  /** Schema the object lives in; null for database-wide objects such as global default privileges. */
  readonly schema: string | null;
  /** Relation the object is, or belongs to (a column's table, an index's table); null otherwise. */
  readonly relation: string | null;
  readonly attributes: Readonly<Record<string, AttributeValue>>;
}

/** Row count and content hash of one ordinary table. */
export interface TableRows {
  /** Schema-qualified table name, as in the table's `CatalogObject.name`. */
  readonly table: string;
  readonly schema: string;
  readonly relation: string;
  /** Null when the caller asked for the table's rows not to be read (`ignoreTables`). */
  readonly rowCount: number | null;
  /** Order-independent hash of the row texts; null when the rows were not read. */
  readonly contentHash: string | null;
  /** Columns that contribute only whether they are NULL, each with the reason of the masking rule. */
  readonly maskedColumns: readonly MaskedColumn[];
  /** Every row text, sorted, when the table has fewer than `SMALL_TABLE_ROW_LIMIT` rows; null otherwise. */
  readonly rows: readonly string[] | null;
}

export interface MaskedColumn {
  readonly column: string;
  readonly reason: MaskReason;
}

/** Rule that masked a column because its value differs from run to run; see `maskReasonOf`. */
export type MaskReason = 'identity' | 'sequence default' | 'random default' | 'clock default' | 'time-of-run name';

/**
 * Catalog and row summary of a database, keyed by object kind and name. It contains no OIDs,
 * so fingerprints of two databases compare, and it is plain JSON.
 */
export interface Fingerprint {
  readonly formatVersion: 1;
  /** Schemas covered, sorted. */
  readonly schemas: readonly string[];
  /** Catalog objects keyed by `<kind> <name>`. */
  readonly objects: Readonly<Record<string, CatalogObject>>;
  /** Rows of ordinary tables keyed by schema-qualified table name. */
  readonly tableRows: Readonly<Record<string, TableRows>>;
}

/** Tables with fewer rows than this keep every row text in the fingerprint, so a diff can list them. */
export const SMALL_TABLE_ROW_LIMIT = 50;

/** Returns the key of a catalog object in `Fingerprint.objects`. */
export function objectKeyOf(object: Pick<CatalogObject, 'kind' | 'name'>): string {
  return `${object.kind} ${object.name}`;
}
