/** Stable error codes. Tests and scripts match on these, so never rename one. */
export type ErrorCode =
  | 'CONNECTION_REFUSED'
  | 'AUTHENTICATION_FAILED'
  | 'DATABASE_NOT_FOUND'
  | 'INSUFFICIENT_PRIVILEGE'
  | 'CONNECTION_LOST'
  | 'INVALID_CONFIGURATION'
  | 'INVALID_ARGUMENT'
  | 'MIGRATIONS_DIR_NOT_FOUND'
  | 'MIGRATION_FILE_NAME_INVALID'
  | 'MIGRATION_DUPLICATE_VERSION'
  | 'MIGRATION_VERSION_GAP'
  | 'MIGRATION_UNPAIRED'
  | 'MIGRATION_FILE_MISSING'
  | 'MIGRATION_FILE_INVALID'
  | 'UNKNOWN_VERSION'
  | 'CHECKSUM_MISMATCH'
  | 'PREREQUISITE_MISSING'
  | 'MIGRATION_FAILED'
  | 'ROLLBACK_FAILED'
  | 'ROLLBACK_BLOCKED'
  | 'CONFIRMATION_REQUIRED'
  | 'LOCK_TIMEOUT'
  | 'INTERRUPTED'
  | 'EMBEDDED_START_FAILED'
  | 'EMBEDDED_IN_USE'
  | 'EMBEDDED_NOT_RUNNING'
  | 'EMBEDDED_OS_USER_MISSING'
  | 'TOOL_NOT_FOUND'
  | 'BACKUP_FAILED'
  | 'BACKUP_NOT_FOUND'
  | 'BACKUP_INVALID'
  | 'RESTORE_FAILED'
  | 'VERIFY_FAILED'
  | 'SCRATCH_DATABASE_FAILED'
  | 'INTERNAL_ERROR'
  | 'EMBEDDED_STOP_FAILED';

/** Fields of a PostgreSQL error report that are kept on every wrapped database error. */
export interface PostgresErrorFields {
  readonly sqlstate?: string;
  readonly severity?: string;
  readonly detail?: string;
  readonly hint?: string;
  readonly position?: string;
  readonly where?: string;
  readonly schema?: string;
  readonly table?: string;
  readonly column?: string;
  readonly constraint?: string;
}

export interface OnevaultErrorOptions {
  /** Next step for the user. */
  readonly hint?: string;
  /** Migration version the error belongs to, when there is one. */
  readonly version?: string;
  readonly cause?: unknown;
  readonly postgres?: PostgresErrorFields;
}

/** The one error class of the library. `code` is stable; `message` names the value and the fault. */
export class OnevaultError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  readonly version?: string;
  readonly postgres?: PostgresErrorFields;

  constructor(code: ErrorCode, message: string, options: OnevaultErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OnevaultError';
    this.code = code;
    this.hint = options.hint;
    this.version = options.version;
    this.postgres = options.postgres;
  }
}

/** Returns the PostgreSQL error fields of a node-postgres error, or undefined for other errors. */
export function postgresFieldsOf(error: unknown): PostgresErrorFields | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const fields = error as Record<string, unknown>;
  if (typeof fields.code !== 'string' || !/^[0-9A-Z]{5}$/.test(fields.code)) return undefined;
  const text = (key: string): string | undefined => (typeof fields[key] === 'string' ? (fields[key] as string) : undefined);
  return {
    sqlstate: fields.code,
    severity: text('severity'),
    detail: text('detail'),
    hint: text('hint'),
    position: text('position'),
    where: text('where'),
    schema: text('schema'),
    table: text('table'),
    column: text('column'),
    constraint: text('constraint'),
  };
}
