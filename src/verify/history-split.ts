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
  readonly differences: readonly FingerprintDifference[];
  /** Changes to history (migration log, audit rows, backup schemas, extensions), reported but never failing. */
  readonly informational: readonly FingerprintDifference[];
}

/**
 * Compares two fingerprints the way `onevault verify` does. Set aside, and reported as
 * informational:
 * - `util.migration_log` entirely, and the rows of `audit.*` tables, because every run adds to them;
 * - schemas named `onevault_backup_*`, which a rollback creates on purpose;
 * - a schema whose only contents are set aside, such as `util` holding only the migration log
 *   that the platform's first rollback keeps;
 * - extensions, because a rollback cannot tell whether an extension was installed by its
 *   migration or before it, and dropping a shared extension would break other objects.
 */
export function compareStates(expected: Fingerprint, actual: Fingerprint): StateComparison {
  const expectedParts = splitFingerprint(expected);
  const actualParts = splitFingerprint(actual);

  return {
    differences: diffFingerprints(expectedParts.compared, actualParts.compared),
    informational: diffFingerprints(expectedParts.history, actualParts.history),
  };
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
