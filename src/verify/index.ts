export { verifyMigrations, VERIFY_STEPS } from './verify';
export type { MigrationProof, ProofStatus, StepResult, VerifyEvent, VerifyOptions, VerifyReport, VerifyStep } from './verify';
export { AUDIT_TABLES, BACKUP_SCHEMAS, HISTORY_TABLES, compareStates, findHistoryRemovals } from './history-split';
export type { StateComparison } from './history-split';
export { DEFAULT_SCRATCH_PREFIX } from './scratch-database';
