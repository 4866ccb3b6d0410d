import type { Command } from 'commander';
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { SessionOptions } from '../connection/session';
import { OnevaultError } from '../errors';
import { printProgress } from './output';

/** Options every command accepts; declared once on the program. */
export interface GlobalOptions {
  readonly databaseUrl?: string;
  readonly dataDir?: string;
  readonly migrations: string;
  readonly json?: boolean;
  readonly createDatabase?: boolean;
  readonly createOsUser?: boolean;
}

/** `migrations/` of the package: the platform's own migrations. */
export const PACKAGED_MIGRATIONS_DIR = path.resolve(__dirname, '..', '..', '..', 'migrations');

/**
 * Returns the default of `--migrations`: `migrations/` of the working directory when it exists,
 * as in a team's project, else the package's own folder, so the platform deploys from anywhere.
 */
export function defaultMigrationsDir(cwd: string = process.cwd()): string {
  const local = path.resolve(cwd, 'migrations');
  return fs.existsSync(local) && fs.statSync(local).isDirectory() ? local : PACKAGED_MIGRATIONS_DIR;
}

/** Returns the global options as seen from a subcommand. */
export function globalOptionsOf(command: Command): GlobalOptions {
  return command.optsWithGlobals() as GlobalOptions;
}

/** Session options for `withDatabaseSession`, with embedded-server progress on stderr unless JSON is asked for. */
export function sessionOptionsOf(options: GlobalOptions): SessionOptions {
  return {
    databaseUrl: options.databaseUrl,
    dataDir: options.dataDir,
    createDatabase: options.createDatabase,
    createOsUser: options.createOsUser,
    onProgress: options.json ? undefined : (message) => printProgress(message),
  };
}

/** Parses a positive number of milliseconds given as `5000`, `5000ms`, `5s` or `2min`. Throws `INVALID_ARGUMENT`. */
export function parseDurationMs(value: string, optionName: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|min)?$/.exec(value.trim());
  if (!match) {
    throw new OnevaultError('INVALID_ARGUMENT', `${optionName} "${value}" is not a duration.`, { hint: `Give milliseconds or a unit, for example ${optionName} 30s.` });
  }
  const unit = match[2] ?? 'ms';
  const unitMs: Record<string, number> = { ms: 1, s: 1000, min: 60_000 };
  const ms = Number(match[1]) * unitMs[unit];
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new OnevaultError('INVALID_ARGUMENT', `${optionName} must be greater than zero, got "${value}".`, { hint: `Give a positive duration, for example ${optionName} 30s.` });
  }
  return Math.round(ms);
}

/** Parses a whole number between `min` and `max`. Throws `INVALID_ARGUMENT`. */
export function parseCount(value: string, optionName: string, min: number, max: number): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) < min || Number(value) > max) {
    throw new OnevaultError('INVALID_ARGUMENT', `${optionName} "${value}" must be a whole number from ${min} to ${max}.`, { hint: `For example ${optionName} ${min}.` });
  }
  return Number(value);
}
