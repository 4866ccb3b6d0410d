import type { ErrorCode } from '../errors';

/** Exit codes of the CLI; documented in the README, so never change one. */
export const EXIT_OK = 0;
/** A migration, rollback or other operation failed, or the server could not be used. */
export const EXIT_FAILURE = 1;
/** Invalid usage or configuration: options, connection settings, the migrations folder, a missing confirmation. */
export const EXIT_USAGE = 2;
/** A check found problems: verify, lint, test, health. */
export const EXIT_CHECK_FAILED = 3;
/** Stopped by Ctrl-C or SIGTERM. */
export const EXIT_INTERRUPTED = 130;

const USAGE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'INVALID_CONFIGURATION',
  'INVALID_ARGUMENT',
  'MIGRATIONS_DIR_NOT_FOUND',
  'MIGRATION_FILE_NAME_INVALID',
  'MIGRATION_DUPLICATE_VERSION',
  'MIGRATION_VERSION_GAP',
  'MIGRATION_UNPAIRED',
  'MIGRATION_FILE_INVALID',
  'UNKNOWN_VERSION',
  'CONFIRMATION_REQUIRED',
]);

/** Maps an error code to the exit code of the process. */
export function exitCodeFor(code: ErrorCode): number {
  if (code === 'INTERRUPTED') return EXIT_INTERRUPTED;
  if (code === 'VERIFY_FAILED') return EXIT_CHECK_FAILED;
  return USAGE_CODES.has(code) ? EXIT_USAGE : EXIT_FAILURE;
}
