import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

import { OnevaultError } from '../errors';
import { clearPreviousPostmaster, EmbeddedContext } from './embedded-cluster';
import { assertPathSafeForPgCtl, EmbeddedLayout, pathExists, resolveLayout } from './embedded-layout';
import { SERVER_OS_USER_NAME } from './embedded-os-user';

/** File in the data folder that records the folder of a relocated cluster, as an absolute path on one line. */
export const CLUSTER_LOCATION_FILE_NAME = 'cluster-location';

/** Parent of relocated clusters: each gets a subfolder named after a hash of its data folder path. */
export const DEFAULT_RELOCATED_CLUSTERS_DIR = '/var/lib/onevault/clusters';

/** File in a relocated cluster's folder that names the data folder it belongs to, for people who list the folder. */
const DATA_DIR_NOTE_FILE_NAME = 'data-dir';

const HASH_HEX_DIGITS = 16;

function locationFileOf(rootDir: string): string {
  return path.join(rootDir, CLUSTER_LOCATION_FILE_NAME);
}

/**
 * Reads the cluster-location file of a data folder. Returns undefined when it does not exist.
 * Throws EMBEDDED_START_FAILED when it does not contain an absolute path.
 */
export async function readClusterLocation(rootDir: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await fs.readFile(locationFileOf(rootDir), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }

  const location = text.trim();
  if (!path.isAbsolute(location) || location.includes('\n')) {
    throw new OnevaultError('EMBEDDED_START_FAILED', `${locationFileOf(rootDir)} is not valid: expected the absolute path of the cluster's folder on one line.`, {
      hint: `Restore the file, or delete ${rootDir} to start with an empty database.`,
    });
  }
  return location;
}

/**
 * Resolves the layout that a data folder records: the cluster in the folder named by its
 * cluster-location file, or else inside the data folder. Only reads files.
 */
export async function resolveRecordedLayout(dataDir: string | undefined): Promise<EmbeddedLayout> {
  const layout = resolveLayout(dataDir);
  const location = await readClusterLocation(layout.rootDir);
  return location === undefined ? layout : resolveLayout(layout.rootDir, location);
}

/** Returns `<relocatedClustersDir>/<first 16 hex digits of sha256(rootDir)>`. */
export function relocatedServerDir(rootDir: string, relocatedClustersDir: string): string {
  const digest = createHash('sha256').update(rootDir).digest('hex').slice(0, HASH_HEX_DIGITS);
  return path.join(path.resolve(relocatedClustersDir), digest);
}

/**
 * Creates a folder with mode 0755, or checks an existing one: it must be a real folder owned by
 * this user and not writable by others, because the cluster inside is trusted.
 */
async function ensureTrustedFolder(folder: string): Promise<void> {
  const firstCreated = await fs.mkdir(folder, { recursive: true, mode: 0o755 });
  if (firstCreated !== undefined) {
    // mkdir applies the umask, and the server's OS user must be able to enter every new folder.
    for (let created = folder; created.startsWith(firstCreated); created = path.dirname(created)) await fs.chmod(created, 0o755);
  }

  const stat = await fs.lstat(folder);
  const uid = typeof process.getuid === 'function' ? process.getuid() : stat.uid;
  const problem = !stat.isDirectory()
    ? 'is not a folder'
    : stat.uid !== uid
      ? `is owned by uid ${stat.uid}, not by this user`
      : (stat.mode & 0o022) !== 0
        ? 'is writable by other users'
        : undefined;
  if (problem !== undefined) {
    throw new OnevaultError('EMBEDDED_START_FAILED', `The folder ${folder}, meant for a relocated PostgreSQL cluster, ${problem}.`, {
      hint: `Remove or fix ${folder}, or choose a data folder that the OS user "${SERVER_OS_USER_NAME}" can enter.`,
    });
  }
}

/**
 * Stops a server still running in a relocated folder and deletes its cluster and log. Such a
 * cluster is stale: its data folder, with the credentials, was deleted and recreated.
 */
async function removeStaleCluster(context: EmbeddedContext): Promise<void> {
  const { layout } = context;
  const leftovers = [layout.clusterDir, layout.stagingClusterDir, layout.logFile, `${layout.logFile}.1`];
  const present = [];
  for (const file of leftovers) if (await pathExists(file)) present.push(file);
  if (present.length === 0) return;

  context.onProgress(`Removing the stale cluster in ${layout.serverDir}, because ${layout.rootDir} no longer records it (its ${CLUSTER_LOCATION_FILE_NAME} file is missing)`);
  await clearPreviousPostmaster(context);
  for (const file of present) await fs.rm(file, { recursive: true, force: true });
}

/**
 * Decides where the cluster of a data folder lives, prepares that folder and returns the context
 * with the final layout. Uses the folder that cluster-location records. Without that file, the
 * cluster stays in the data folder when the server's OS user can enter it (`rootReachable`), and
 * is otherwise relocated to `<relocatedClustersDir>/<hash>/`, which is recorded in
 * cluster-location after a stale cluster there has been removed.
 * Call it only while holding server.lock, because it may delete a stale cluster.
 * Throws EMBEDDED_START_FAILED when the data folder contains a cluster that the server's OS user
 * cannot reach, or when the relocation folder cannot be trusted.
 */
export async function ensureClusterLocation(context: EmbeddedContext, rootReachable: boolean, relocatedClustersDir: string): Promise<EmbeddedContext> {
  const { rootDir } = context.layout;
  const recorded = await readClusterLocation(rootDir);
  if (recorded !== undefined) {
    assertPathSafeForPgCtl(recorded, 'cluster folder');
    await ensureTrustedFolder(recorded);
    return { ...context, layout: resolveLayout(rootDir, recorded) };
  }

  if (rootReachable) return context;

  const inPlace = resolveLayout(rootDir);
  if (await pathExists(path.join(inPlace.clusterDir, 'PG_VERSION'))) {
    throw new OnevaultError('EMBEDDED_START_FAILED', `${inPlace.clusterDir} contains a PostgreSQL cluster, but the OS user "${SERVER_OS_USER_NAME}", which runs PostgreSQL when onevault runs as root, cannot enter ${rootDir}.`, {
      hint: `Give others search permission on each parent folder of ${rootDir} (chmod o+x), or delete ${inPlace.clusterDir} to start with an empty database in a folder that "${SERVER_OS_USER_NAME}" can reach.`,
    });
  }

  const serverDir = relocatedServerDir(rootDir, relocatedClustersDir);
  assertPathSafeForPgCtl(serverDir, 'cluster folder');
  await ensureTrustedFolder(path.dirname(serverDir));
  await ensureTrustedFolder(serverDir);
  const relocated: EmbeddedContext = { ...context, layout: resolveLayout(rootDir, serverDir) };
  await removeStaleCluster(relocated);

  await fs.writeFile(path.join(serverDir, DATA_DIR_NOTE_FILE_NAME), `${rootDir}\n`, { mode: 0o644 });
  await fs.writeFile(locationFileOf(rootDir), `${serverDir}\n`, { mode: 0o644 });
  context.onProgress(`The OS user "${SERVER_OS_USER_NAME}" cannot enter ${rootDir}, so the cluster and its log are kept in ${serverDir}`);
  return relocated;
}
