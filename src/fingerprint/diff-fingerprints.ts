import type { AttributeValue, CatalogObject, Fingerprint, ObjectKind, TableRows } from './fingerprint';
import { matchesAnyNamePattern } from './name-pattern';

/** Row change of one table: counts always, row texts when both sides are small tables. */
export interface RowsChange {
  readonly countBefore: number;
  readonly countAfter: number;
  /** Row texts only in `after` (each once per extra copy); null when a side is too large to list. */
  readonly added: readonly string[] | null;
  /** Row texts only in `before`; null when a side is too large to list. */
  readonly removed: readonly string[] | null;
}

/**
 * One difference between two fingerprints. `changed` differences come one per attribute.
 * A `rows` difference reports the content of a table present on both sides.
 */
export interface FingerprintDifference {
  readonly change: 'added' | 'removed' | 'changed';
  readonly kind: ObjectKind | 'rows';
  readonly name: string;
  readonly schema: string | null;
  readonly relation: string | null;
  /** Changed attribute, for `changed` differences of catalog objects. */
  readonly attribute?: string;
  readonly before?: AttributeValue;
  readonly after?: AttributeValue;
  readonly rows?: RowsChange;
  /** Row count of an added or removed table. */
  readonly rowCount?: number;
  /** Objects inside an added or removed schema or relation, left out of the list and counted here. */
  readonly containedObjects?: number;
}

/** Differences to leave out, by name pattern (`*` matches any characters). */
export interface DifferenceFilter {
  /** Schemas whose objects and rows are all left out, and the schemas themselves (`onevault_backup_*`). */
  readonly schemas?: readonly string[];
  /** Tables, as `schema.table`, whose row changes are left out; their catalog changes still count. */
  readonly tableRows?: readonly string[];
}

export interface DiffFingerprintsOptions {
  readonly ignore?: DifferenceFilter;
}

const CONTAINER_KINDS: ReadonlySet<ObjectKind> = new Set(['table', 'foreign table', 'view', 'materialized view']);
const CHILD_KINDS: ReadonlySet<ObjectKind | 'rows'> = new Set(['column', 'constraint', 'index', 'trigger', 'policy']);

const KIND_ORDER: readonly (ObjectKind | 'rows')[] = [
  'role',
  'role membership',
  'role settings',
  'extension',
  'schema',
  'default privileges',
  'database settings',
  'type',
  'sequence',
  'table',
  'foreign table',
  'view',
  'materialized view',
  'column',
  'constraint',
  'index',
  'trigger',
  'policy',
  'rows',
  'function',
  'procedure',
  'aggregate',
  'window function',
];

/**
 * Lists what differs from `before` to `after`: added and removed objects, changed attributes and
 * changed table rows, sorted by schema and object. Objects inside an added or removed schema or
 * table are folded into that one difference. Pure: it neither reads the database nor throws.
 */
export function diffFingerprints(
  before: Fingerprint,
  after: Fingerprint,
  options: DiffFingerprintsOptions = {},
): FingerprintDifference[] {
  const differences = [
    ...diffObjects(before.objects, after.objects, before.tableRows, after.tableRows),
    ...diffTableRows(before.tableRows, after.tableRows),
  ];

  const folded = foldContainedObjects(differences).sort(compareDifferences);
  return options.ignore === undefined ? folded : partitionDifferences(folded, options.ignore).kept;
}

/** Splits differences into those the filter keeps and those it leaves out. */
export function partitionDifferences(
  differences: readonly FingerprintDifference[],
  filter: DifferenceFilter,
): { readonly kept: FingerprintDifference[]; readonly ignored: FingerprintDifference[] } {
  const kept: FingerprintDifference[] = [];
  const ignored: FingerprintDifference[] = [];
  for (const difference of differences) (isFilteredOut(difference, filter) ? ignored : kept).push(difference);
  return { kept, ignored };
}

function isFilteredOut(difference: FingerprintDifference, filter: DifferenceFilter): boolean {
  if (difference.schema !== null && matchesAnyNamePattern(filter.schemas, difference.schema)) return true;

  return (
    difference.kind === 'rows' &&
    difference.schema !== null &&
    difference.relation !== null &&
    matchesAnyNamePattern(filter.tableRows, `${difference.schema}.${difference.relation}`)
  );
}

function diffObjects(
  before: Readonly<Record<string, CatalogObject>>,
  after: Readonly<Record<string, CatalogObject>>,
  rowsBefore: Readonly<Record<string, TableRows>>,
  rowsAfter: Readonly<Record<string, TableRows>>,
): FingerprintDifference[] {
  const differences: FingerprintDifference[] = [];

  for (const [key, old] of Object.entries(before)) {
    const current = after[key];
    if (current === undefined) {
      differences.push({ ...identityOf(old), change: 'removed', ...rowCountOf(old, rowsBefore) });
      continue;
    }
    differences.push(...diffAttributes(old, current));
  }

  for (const [key, current] of Object.entries(after)) {
    if (before[key] === undefined) {
      differences.push({ ...identityOf(current), change: 'added', ...rowCountOf(current, rowsAfter) });
    }
  }

  return differences;
}

function diffAttributes(old: CatalogObject, current: CatalogObject): FingerprintDifference[] {
  const attributes = new Set([...Object.keys(old.attributes), ...Object.keys(current.attributes)]);
  const differences: FingerprintDifference[] = [];

  for (const attribute of attributes) {
    const beforeValue = old.attributes[attribute] ?? null;
    const afterValue = current.attributes[attribute] ?? null;
    if (JSON.stringify(beforeValue) === JSON.stringify(afterValue)) continue;

    differences.push({ ...identityOf(current), change: 'changed', attribute, before: beforeValue, after: afterValue });
  }

  return differences;
}

function diffTableRows(
  before: Readonly<Record<string, TableRows>>,
  after: Readonly<Record<string, TableRows>>,
): FingerprintDifference[] {
  const differences: FingerprintDifference[] = [];

  for (const [table, old] of Object.entries(before)) {
    const current = after[table];
    if (current === undefined) continue;
    if (old.rowCount === null || current.rowCount === null) continue;
    if (old.rowCount === current.rowCount && old.contentHash === current.contentHash) continue;

    const listed = old.rows !== null && current.rows !== null;
    differences.push({
      change: 'changed',
      kind: 'rows',
      name: table,
      schema: current.schema,
      relation: current.relation,
      rows: {
        countBefore: old.rowCount,
        countAfter: current.rowCount,
        added: listed ? multisetMinus(current.rows ?? [], old.rows ?? []) : null,
        removed: listed ? multisetMinus(old.rows ?? [], current.rows ?? []) : null,
      },
    });
  }

  return differences;
}

// Returns the items of `from` left after taking away one copy for every item of `minus`.
function multisetMinus(from: readonly string[], minus: readonly string[]): string[] {
  const remaining = new Map<string, number>();
  for (const item of minus) remaining.set(item, (remaining.get(item) ?? 0) + 1);

  const result: string[] = [];
  for (const item of from) {
    const copies = remaining.get(item) ?? 0;
    if (copies > 0) remaining.set(item, copies - 1);
    else result.push(item);
  }
  return result;
}

// Objects inside an added or removed schema, and the columns, constraints, indexes, triggers and
// policies of an added or removed relation, would repeat the one difference that covers them.
function foldContainedObjects(differences: readonly FingerprintDifference[]): FingerprintDifference[] {
  const containerCounts = new Map<string, number>();
  for (const difference of differences) {
    const key = containerKeyOf(difference);
    if (key !== null) containerCounts.set(key, 0);
  }

  const kept = differences.filter((difference) => {
    const key = enclosingContainerKeyOf(difference, containerCounts);
    if (key === null) return true;
    containerCounts.set(key, (containerCounts.get(key) ?? 0) + 1);
    return false;
  });

  return kept.map((difference) => {
    const key = containerKeyOf(difference);
    const count = key === null ? 0 : (containerCounts.get(key) ?? 0);
    return count === 0 ? difference : { ...difference, containedObjects: count };
  });
}

function containerKeyOf(difference: FingerprintDifference): string | null {
  if (difference.change === 'changed' || difference.schema === null) return null;
  if (difference.kind === 'schema') return `${difference.change} schema ${difference.schema}`;
  if (CONTAINER_KINDS.has(difference.kind as ObjectKind)) {
    return `${difference.change} relation ${difference.schema}.${difference.relation ?? ''}`;
  }
  return null;
}

function enclosingContainerKeyOf(
  difference: FingerprintDifference,
  containers: ReadonlyMap<string, number>,
): string | null {
  if (difference.change === 'changed' || difference.schema === null || difference.kind === 'schema') return null;

  const schemaKey = `${difference.change} schema ${difference.schema}`;
  if (containers.has(schemaKey)) return schemaKey;

  const relationKey = `${difference.change} relation ${difference.schema}.${difference.relation ?? ''}`;
  if (CHILD_KINDS.has(difference.kind) && containers.has(relationKey)) return relationKey;

  return null;
}

function identityOf(object: CatalogObject): Pick<FingerprintDifference, 'kind' | 'name' | 'schema' | 'relation'> {
  return { kind: object.kind, name: object.name, schema: object.schema, relation: object.relation };
}

function rowCountOf(object: CatalogObject, rows: Readonly<Record<string, TableRows>>): { rowCount?: number } {
  if (object.kind !== 'table') return {};
  const count = rows[object.name]?.rowCount;
  return count === null || count === undefined ? {} : { rowCount: count };
}

function compareDifferences(a: FingerprintDifference, b: FingerprintDifference): number {
  return (
    compareText(a.schema ?? '', b.schema ?? '') ||
    Number(a.relation === null) - Number(b.relation === null) ||
    compareText(a.relation ?? '', b.relation ?? '') ||
    KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) ||
    compareText(a.name, b.name) ||
    compareText(a.attribute ?? '', b.attribute ?? '')
  );
}

function compareText(a: string, b: string): number {
  if (a < b) return -1;
  return a > b ? 1 : 0;
}
