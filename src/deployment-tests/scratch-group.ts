import type { Client } from 'pg';

import { diffFingerprints, formatDifferences, takeFingerprint, type Fingerprint, type FingerprintDifference } from '../fingerprint';
import type { Migration } from '../migrations/catalog';
import { readMigrationRuns, summarizeRuns } from '../migrations/history';
import type { CheckOutcome, SuiteContext } from './check-result';
import { SYSTEM_OPERATIONS } from './system-operations';
import { withScratchCopy, type ScratchCopy, type ScratchCopyOutcome } from './with-scratch-copy';

/** Tables that every run appends to (the migration log and the audit trail); their rows are expected to change. */
export const HISTORY_TABLES = ['util.migration_log', 'audit.*'] as const;

/** Maximum length of the difference listing kept in a check's details. */
const DIFFERENCE_TEXT_MAX_CHARS = 1_500;

/** Runs `work` in a scratch copy of the target, reporting creation and removal as progress events. */
export function inScratchCopy<T>(context: SuiteContext, purpose: string, work: (client: Client, copy: ScratchCopy) => Promise<T>): Promise<ScratchCopyOutcome<T>> {
  return withScratchCopy(
    {
      config: context.config,
      sourceDatabase: context.database,
      signal: context.signal,
      onCreated: (copy) => context.emit({ type: 'scratch-created', database: copy.database, method: copy.method, purpose }),
      onDropped: (database) => context.emit({ type: 'scratch-dropped', database }),
      onProgress: (message) => context.emit({ type: 'progress', message }),
      findTool: context.findTool,
    },
    work,
  );
}

/** Fingerprint of the platform with the rows of the history tables left out. */
export function platformFingerprint(client: Client): Promise<Fingerprint> {
  return takeFingerprint(client, { ignoreTables: [...HISTORY_TABLES] });
}

/** Differences between two platform fingerprints, without history rows and rollback backup schemas. */
export function platformDifferences(before: Fingerprint, after: Fingerprint): FingerprintDifference[] {
  return diffFingerprints(before, after, { ignore: { schemas: [`${SYSTEM_OPERATIONS.backupSchemaPrefix}*`], tableRows: [...HISTORY_TABLES] } });
}

/** Formats differences for a details line, cut to a readable length. */
export function differencesText(differences: readonly FingerprintDifference[]): string {
  const text = formatDifferences(differences);
  return text.length > DIFFERENCE_TEXT_MAX_CHARS ? `${text.slice(0, DIFFERENCE_TEXT_MAX_CHARS)}… (${differences.length} differences in all)` : text;
}

/** Returns the V001 migration of the folder, or undefined when the folder has none. */
export function systemOperationsMigration(context: SuiteContext): Migration | undefined {
  return context.migrations.find((migration) => migration.version === SYSTEM_OPERATIONS.version);
}

/** Returns the migrations of the folder that the log of `client`'s database shows as applied, in version order. */
export async function appliedMigrations(client: Client, migrations: readonly Migration[]): Promise<Migration[]> {
  const states = summarizeRuns(await readMigrationRuns(client));
  return migrations.filter((migration) => states.get(migration.version)?.applied === true);
}

/** Outcome for every check of a group that could not run, with the reason. */
export function skippedOutcome(reason: string, expected: string): CheckOutcome {
  return { status: 'SKIPPED', found: `not run: ${reason}`, expected };
}
