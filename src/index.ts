export { OnevaultError, type ErrorCode } from './errors';
export { resolveConnectionTarget, type ConnectionTarget, type ConnectionOptions } from './connection/settings';
export { withDatabaseSession, type DatabaseSession } from './connection/session';
export { loadMigrations, type Migration } from './migrations/catalog';
export { deploy, type ApplyReport, type DeployEvent } from './apply/deploy';
export { rollback, type RollbackOptions } from './apply/rollback';
export { runMigrationFile } from './apply/run-migration';
export { getStatus, type StatusReport } from './status/status';
