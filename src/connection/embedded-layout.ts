import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

import { OnevaultError } from '../errors';

/** Files of one embedded server inside its folder (default `.onevault`). */
export interface EmbeddedLayout {
  /** The folder given by the caller, which contains the credentials, the lock and the cluster-location file. */
  readonly rootDir: string;
  /**
   * Folder of the files that the server's OS user writes: the cluster and the server log. It is
   * `rootDir`, unless that user cannot reach `rootDir` and the cluster was relocated.
   */
  readonly serverDir: string;
  /** The PostgreSQL cluster (PGDATA). */
  readonly clusterDir: string;
  /** Staging folder in which initdb builds a new cluster before it is renamed to `clusterDir`. */
  readonly stagingClusterDir: string;
  readonly credentialsFile: string;
  readonly logFile: string;
  readonly lockFile: string;
  readonly postmasterPidFile: string;
}

/** Superuser name, port and password of an embedded cluster, stored in credentials.json. */
export interface EmbeddedCredentials {
  readonly user: string;
  readonly password: string;
  readonly port: number;
}

/** The fields of PostgreSQL's `postmaster.pid` that onevault reads. */
export interface PostmasterPidFile {
  readonly pid: number;
  readonly port: number;
  /** "starting", "ready" or "stopping" (line 8 of the file), when present. */
  readonly status?: string;
}

export const SUPERUSER_NAME = 'postgres';

/** Name of the folder used when no data folder is given, inside the working directory. */
export const DEFAULT_EMBEDDED_DIR_NAME = '.onevault';

/**
 * Characters that pg_ctl cannot pass safely, because it places paths between double quotes in a
 * shell command line.
 */
const UNSAFE_PATH_CHARACTERS = /["$`\\\n\r]/;

/** Throws INVALID_ARGUMENT for a path that pg_ctl's shell command would misread. */
export function assertPathSafeForPgCtl(folder: string, description: string): void {
  if (UNSAFE_PATH_CHARACTERS.test(folder)) {
    throw new OnevaultError('INVALID_ARGUMENT', `The ${description} ${JSON.stringify(folder)} contains a quote, $, backtick, backslash or line break, which pg_ctl cannot handle.`, {
      hint: `Choose a ${description} path without those characters.`,
    });
  }
}

/**
 * Resolves the file paths of an embedded server folder, with the cluster and server log in
 * `serverDir` (default: the data folder itself).
 * Throws INVALID_ARGUMENT for a path that pg_ctl's shell command would misread.
 */
export function resolveLayout(dataDir: string | undefined, serverDir?: string): EmbeddedLayout {
  const rootDir = path.resolve(dataDir ?? DEFAULT_EMBEDDED_DIR_NAME);
  assertPathSafeForPgCtl(rootDir, 'embedded data folder');
  const resolvedServerDir = serverDir === undefined ? rootDir : path.resolve(serverDir);
  assertPathSafeForPgCtl(resolvedServerDir, 'cluster folder');

  const clusterDir = path.join(resolvedServerDir, 'data');
  return {
    rootDir,
    serverDir: resolvedServerDir,
    clusterDir,
    stagingClusterDir: path.join(resolvedServerDir, 'data.initdb'),
    credentialsFile: path.join(rootDir, 'credentials.json'),
    logFile: path.join(resolvedServerDir, 'server.log'),
    lockFile: path.join(rootDir, 'server.lock'),
    postmasterPidFile: path.join(clusterDir, 'postmaster.pid'),
  };
}

/** Returns a random password of 32 URL-safe characters (192 bits). */
export function generatePassword(): string {
  return randomBytes(24).toString('base64url');
}

/** Builds the URL that node-postgres, psql and pg_dump accept. */
export function buildConnectionString(credentials: EmbeddedCredentials): string {
  const user = encodeURIComponent(credentials.user);
  const password = encodeURIComponent(credentials.password);
  return `postgres://${user}:${password}@127.0.0.1:${credentials.port}/postgres`;
}

function isCredentials(value: unknown): value is EmbeddedCredentials {
  if (typeof value !== 'object' || value === null) return false;
  const fields = value as Record<string, unknown>;
  return (
    typeof fields.user === 'string' &&
    typeof fields.password === 'string' &&
    typeof fields.port === 'number' &&
    Number.isInteger(fields.port) &&
    fields.port > 0 &&
    fields.port < 65536
  );
}

/**
 * Reads credentials.json. Returns undefined when the file does not exist.
 * Throws EMBEDDED_START_FAILED when it is not valid.
 */
export async function readCredentials(layout: EmbeddedLayout): Promise<EmbeddedCredentials | undefined> {
  let text: string;
  try {
    text = await fs.readFile(layout.credentialsFile, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }

  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!isCredentials(parsed)) {
    throw new OnevaultError('EMBEDDED_START_FAILED', `${layout.credentialsFile} is not valid: expected JSON with user, password and port.`, {
      hint: `Restore the file, or delete ${layout.rootDir} to start with an empty database.`,
    });
  }
  return parsed;
}

/** Writes a file readable by its owner only, atomically through a rename. */
export async function writePrivateFile(file: string, content: string): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  await fs.writeFile(temporary, content, { mode: 0o600 });
  await fs.rename(temporary, file);
}

export async function writeCredentials(layout: EmbeddedLayout, credentials: EmbeddedCredentials): Promise<void> {
  await writePrivateFile(layout.credentialsFile, `${JSON.stringify(credentials, null, 2)}\n`);
}

/** Reads the pid, port and status of the cluster's `postmaster.pid`. Returns undefined when it is missing or cut short. */
export async function readPostmasterPidFile(layout: EmbeddedLayout): Promise<PostmasterPidFile | undefined> {
  let text: string;
  try {
    text = await fs.readFile(layout.postmasterPidFile, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }

  // Line 1 is the pid, line 4 the port and line 8 the status (PostgreSQL's pidfile.h).
  const lines = text.split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const status = lines[7]?.trim();
  return { pid, port: Number.isInteger(port) ? port : 0, ...(status ? { status } : {}) };
}

export async function pathExists(file: string): Promise<boolean> {
  try {
    await fs.lstat(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/** Tells whether initdb has finished in the cluster folder and its credentials are stored. */
export async function isClusterInitialised(layout: EmbeddedLayout): Promise<boolean> {
  return (await pathExists(path.join(layout.clusterDir, 'PG_VERSION'))) && (await pathExists(layout.credentialsFile));
}
