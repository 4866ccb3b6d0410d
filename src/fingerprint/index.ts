export { SMALL_TABLE_ROW_LIMIT, objectKeyOf } from './fingerprint';
export type {
  AttributeValue,
  CatalogObject,
  Fingerprint,
  MaskedColumn,
  MaskReason,
  ObjectKind,
  TableRows,
} from './fingerprint';
export { takeFingerprint } from './take-fingerprint';
export { readClusterRoles } from './read-cluster-roles';
export type { TakeFingerprintOptions } from './take-fingerprint';
export { diffFingerprints, partitionDifferences } from './diff-fingerprints';
export type { DiffFingerprintsOptions, DifferenceFilter, FingerprintDifference, RowsChange } from './diff-fingerprints';
export { formatDifferences } from './format-differences';
export { maskReasonOf } from './mask-reason';
export type { ColumnFacts } from './mask-reason';
export { MASKED_VALUE } from './read-table-rows';
export { matchesNamePattern } from './name-pattern';
