import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { ClientBase } from 'pg';

import { deploy } from '../../src/apply/deploy';
import { diffFingerprints, formatDifferences, takeFingerprint, type Fingerprint } from '../../src/fingerprint';
import { MIGRATIONS_DIR } from './cli';

const execFileAsync = promisify(execFile);

/** System Operations Tenant hash key: 31 zero bytes, then 0x01. */
export const SYSTEM_TENANT_HK_HEX = `${'0'.repeat(63)}1`;
/** sha256('SYSTEM_OPERATIONS_ADMIN'), the system role's hash key. */
export const SYSTEM_ROLE_HK_HEX = '8a342a639b76f86163cf37dd3606eb66a5e2782ad076b0fd87161d45face6ef1';

/** History tables that grow with every run; their rows are compared on their own, not in fingerprints. */
export const HISTORY_TABLES = ['util.migration_log', 'audit.*'] as const;

/** Deploys every migration of the repository and fails the test when one fails. */
export async function deployAll(client: ClientBase, to?: string): Promise<void> {
  const report = await deploy(client, { migrationsDir: MIGRATIONS_DIR, to });
  if (report.error) throw report.error;
}

/** Fingerprint of the platform without history tables and rollback backups. */
export function platformFingerprint(client: ClientBase): Promise<Fingerprint> {
  return takeFingerprint(client, { ignoreTables: [...HISTORY_TABLES] });
}

/** Returns the readable differences between two fingerprints, backup schemas left out; '' when equal. */
export function fingerprintChanges(before: Fingerprint, after: Fingerprint): string {
  const differences = diffFingerprints(before, after, { ignore: { schemas: ['onevault_backup_*'], tableRows: [...HISTORY_TABLES] } });
  return differences.length === 0 ? '' : formatDifferences(differences);
}

export interface PsqlResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `psql -X -f FILE` without ON_ERROR_STOP, as an operator would, and never rejects. */
export async function runPsqlFile(url: string, file: string, env: NodeJS.ProcessEnv = {}): Promise<PsqlResult> {
  try {
    const { stdout, stderr } = await execFileAsync('psql', ['-X', '-q', '-d', url, '-f', file], { env: { ...process.env, ...env } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failure.code === 'number' ? failure.code : 1, stdout: failure.stdout ?? '', stderr: failure.stderr ?? '' };
  }
}
