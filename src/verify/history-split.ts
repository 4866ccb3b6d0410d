import { diffFingerprints } from '../fingerprint';
import type { CatalogObject, Fingerprint, FingerprintDifference, TableRows } from '../fingerprint';
import { matchesAnyNamePattern } from '../fingerprint/name-pattern';

/** Tables that record runs: the whole table, its columns, indexes and owned sequences are history. */
export const HISTORY_TABLES: readonly string[] = ['util.migration_log'];

/** Tables whose rows grow with every operation; their definitions are still compared. */
export const AUDIT_TABLES: readonly string[] = ['audit.*'];

/** Schemas that a rollback creates to keep a copy of what it removed. */
export const BACKUP_SCHEMAS: readonly string[] = ['onevault_backup_*'];

/** Differences between two states, split into those the proof counts and those it only reports. */
export interface StateComparison {
  /** Differences from the expected state, and rows removed from history tables; any one fails the step. */
  readonly differences: readonly FingerprintDifference[];
  /** Changes to history (migration log, audit rows, backup schemas, extensions), reported but never failing. */
  readonly informational: readonly FingerprintDifference[];
}

/**
 * Compares two fingerprints the way `onevault verify` does. With `beforeStep`, the state before
 * the step that produced `actual`, rows that the step removed from history tables count as
 * differences too (see `findHistoryRemovals`). Set aside, and reported as informational:
 * - `util.migration_log` entirely, and the rows of `audit.*` tables, because every run adds to them;
 * - schemas named `onevault_backup_*`, which a rollback creates on purpose;
 * - a schema whose only contents are set aside, such as `util` holding only the migration log
 *   that the platform's first rollback keeps;
 * - extensions, because a rollback cannot tell whether an extension was installed by its
 *   migration or before it, and dropping a shared extension would break other objects.
 */
export function compareStates(expected: Fingerprint | undefined, actual: Fingerprint, beforeStep?: Fingerprint): StateComparison {
  const removals = beforeStep === undefined ? [] : findHistoryRemovals(beforeStep, actual);
  if (expected === undefined) return { differences: removals, informational: [] };

  const expectedParts = splitFingerprint(expected);
  const actualParts = splitFingerprint(actual);
  return {
    differences: [...diffFingerprints(expectedParts.compared, actualParts.compared), ...removals],
    informational: diffFingerprints(expectedParts.history, actualParts.history),
  };
}

/**
 * Lists the rows that one step removed from history, as one `rows` difference per history table
 * (`util.migration_log`, `audit.*`) that exists before and after the step. A table lost rows when
 * its count went down or, for a table small enough to list, when a row text is gone. History may
 * only grow, so any such difference fails the step. Dropping a whole table is left to the catalog
 * comparison, because the rollback of the migration that created the table drops it on purpose.
 */
export function findHistoryRemovals(beforeStep: Fingerprint, afterStep: Fingerprint): FingerprintDifference[] {
  const before = splitFingerprint(beforeStep).history;
  const after = splitFingerprint(afterStep).history;
  const historyTablesOnly = (fingerprint: Fingerprint): Fingerprint => ({
    ...fingerprint,
    objects: {},
    tableRows: Object.fromEntries(Object.entries(fingerprint.tableRows).filter(([, rows]) => !isBackupSchema(rows.schema))),
  });

  // NOTE: a table of SMALL_TABLE_ROW_LIMIT rows or more keeps no row texts, so a rewritten row that
  // leaves the count unchanged is not caught there.
  return diffFingerprints(historyTablesOnly(before), historyTablesOnly(after)).filter((difference) => {
    const rows = difference.rows;
    if (difference.kind !== 'rows' || rows === undefined) return false;
    return rows.countAfter < rows.countBefore || (rows.removed !== null && rows.removed.length > 0);
  });
}

interface FingerprintParts {
  readonly compared: Fingerprint;
  readonly history: Fingerprint;
}

function splitFingerprint(fingerprint: Fingerprint): FingerprintParts {
  const comparedObjects: Record<string, CatalogObject> = {};
  const historyObjects: Record<string, CatalogObject> = {};
  for (const [key, object] of Object.entries(fingerprint.objects)) {
    if (object.kind === 'schema') continue;
    if (isHistoryObject(object)) historyObjects[key] = object;
    else comparedObjects[key] = object;
  }

  // Schemas are placed last: one that contains only history objects is history itself.
  for (const [key, object] of Object.entries(fingerprint.objects)) {
    if (object.kind !== 'schema') continue;
    const isHistory = isBackupSchema(object.schema) || (!containsAny(comparedObjects, object.schema) && containsAny(historyObjects, object.schema));
    if (isHistory) historyObjects[key] = object;
    else comparedObjects[key] = object;
  }

  const comparedRows: Record<string, TableRows> = {};
  const historyRows: Record<string, TableRows> = {};
  for (const [key, rows] of Object.entries(fingerprint.tableRows)) {
    const qualified = `${rows.schema}.${rows.relation}`;
    const isHistory =
      isBackupSchema(rows.schema) ||
      matchesAnyNamePattern(HISTORY_TABLES, qualified) ||
      matchesAnyNamePattern(AUDIT_TABLES, qualified);
    if (isHistory) historyRows[key] = rows;
    else comparedRows[key] = rows;
  }

  return {
    compared: { ...fingerprint, objects: comparedObjects, tableRows: comparedRows },
    history: { ...fingerprint, objects: historyObjects, tableRows: historyRows },
  };
}

function isHistoryObject(object: CatalogObject): boolean {
  if (object.kind === 'extension') return true;
  if (isBackupSchema(object.schema)) return true;

  if (object.relation !== null && matchesAnyNamePattern(HISTORY_TABLES, `${object.schema}.${object.relation}`)) return true;

  // An identity or serial sequence belongs to the table of its owning column (`schema.table.column`).
  const ownedBy = object.kind === 'sequence' ? object.attributes.ownedBy : null;
  if (typeof ownedBy === 'string') {
    const owningTable = ownedBy.slice(0, ownedBy.lastIndexOf('.'));
    return matchesAnyNamePattern(HISTORY_TABLES, owningTable);
  }
  return false;
}

function isBackupSchema(schema: string | null): boolean {
  return schema !== null && matchesAnyNamePattern(BACKUP_SCHEMAS, schema);
}

function containsAny(objects: Readonly<Record<string, CatalogObject>>, schema: string | null): boolean {
  return Object.values(objects).some((object) => object.schema === schema && object.kind !== 'extension');
}
