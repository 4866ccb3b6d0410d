import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';

import { OnevaultError } from '../errors';

const execFileAsync = promisify(execFile);

/** Client programs of PostgreSQL that onevault runs. */
export type PostgresTool = 'pg_dump' | 'pg_restore';

/** A client program found on this machine, with the major version it reported. */
export interface FoundTool {
  readonly tool: PostgresTool;
  readonly path: string;
  readonly major: number;
  /** First line of `--version`, for example `pg_dump (PostgreSQL) 15.20`. */
  readonly versionText: string;
}

export interface FindToolOptions {
  /** Folders searched after the versioned Debian folder; the PATH entries when absent. */
  readonly searchPath?: readonly string[];
  /** Root of the versioned installs, `/usr/lib/postgresql` (Debian and Ubuntu) when absent. */
  readonly versionedRoot?: string;
}

const DEBIAN_VERSIONED_ROOT = '/usr/lib/postgresql';

/**
 * Finds the `pg_dump` or `pg_restore` that fits a server of major version `serverMajor`: first
 * `<versionedRoot>/<major>/bin/<tool>`, then each folder of PATH. A program fits when its major
 * version is at least the server's, because pg_dump refuses to dump a newer server and
 * pg_restore cannot read an archive written by a newer pg_dump.
 * Throws `TOOL_NOT_FOUND` naming the package to install when none fits.
 */
export async function findPostgresTool(tool: PostgresTool, serverMajor: number, options: FindToolOptions = {}): Promise<FoundTool> {
  const versionedRoot = options.versionedRoot ?? DEBIAN_VERSIONED_ROOT;
  const searchPath = options.searchPath ?? (process.env.PATH ?? '').split(path.delimiter).filter((entry) => entry !== '');
  const candidates = [path.join(versionedRoot, String(serverMajor), 'bin', tool), ...searchPath.map((folder) => path.join(folder, tool))];

  const rejected: string[] = [];
  for (const candidate of candidates) {
    if (!(await isExecutable(candidate))) continue;

    const found = await readToolVersion(tool, candidate);
    if (found === undefined) {
      rejected.push(`${candidate} (no version reported)`);
      continue;
    }
    if (found.major >= serverMajor) return found;
    rejected.push(`${candidate} (version ${found.major})`);
  }

  const tried = rejected.length > 0 ? ` Found only ${rejected.join(', ')}.` : '';
  throw new OnevaultError('TOOL_NOT_FOUND', `No ${tool} of PostgreSQL ${serverMajor} or later was found in ${path.join(versionedRoot, String(serverMajor), 'bin')} or on PATH.${tried}`, {
    hint: `Install the package postgresql-client-${serverMajor} (Debian, Ubuntu) or the PostgreSQL ${serverMajor} client programs of your system, then run the command again.`,
  });
}

/** Reads the major version of a PostgreSQL client program from `--version`; undefined when it cannot be run or parsed. */
export async function readToolVersion(tool: PostgresTool, file: string): Promise<FoundTool | undefined> {
  try {
    const { stdout } = await execFileAsync(file, ['--version'], { timeout: 10_000 });
    const versionText = stdout.split('\n')[0].trim();
    const match = /\(PostgreSQL\)\s+(\d+)/.exec(versionText);
    if (!match) return undefined;
    return { tool, path: file, major: Number(match[1]), versionText };
  } catch {
    return undefined;
  }
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await fs.access(file, fs.constants.X_OK);
    return (await fs.stat(file)).isFile();
  } catch {
    return false;
  }
}
