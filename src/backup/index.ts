export { findPostgresTool, readToolVersion, type FoundTool, type FindToolOptions, type PostgresTool } from './find-postgres-tool';
export { takeBackup, defaultBackupFileName, type BackupEvent, type BackupOptions, type BackupReport } from './take-backup';
export { libpqEnvironmentOf, childEnvironmentFor } from './libpq-environment';
