import { Client } from 'pg';

import { OnevaultError } from '../errors';
import { ensurePostgresBinaries } from './embedded-binaries';
import {
  clearPreviousPostmaster,
  EmbeddedContext,
  ensureCluster,
  ensureRootDir,
  findRunningPostmaster,
  RunningPostmaster,
  startPostmaster,
  stopPostmaster,
  stopPostmasterSync,
} from './embedded-cluster';
import {
  buildConnectionString,
  EmbeddedCredentials,
  EmbeddedLayout,
  isClusterInitialised,
  pathExists,
  PostmasterPidFile,
  readCredentials,
  resolveLayout,
} from './embedded-layout';
import { DEFAULT_RELOCATED_CLUSTERS_DIR, ensureClusterLocation, resolveRecordedLayout } from './embedded-location';
import { isLockOwnerAlive, newLock, readLock, removeLock, removeLockSync, replaceLock, ServerLock, tryCreateLock } from './embedded-lock';
import { resolveServerOsUser } from './embedded-os-user';
import { acquireSharedServer, forgetSharedServer } from './embedded-sharing';
import { isServerTracked, trackServer, untrackServer } from './embedded-shutdown';

export { registerEmbeddedShutdownHandlers, stopTrackedServersSync } from './embedded-shutdown';
export type { ShutdownHandlerOptions } from './embedded-shutdown';

export interface EmbeddedOptions {
  /** Folder for the cluster, credentials, log and lock. Default: `.onevault` in the working directory. */
  readonly dataDir?: string;
  /**
   * Allows creating the `postgres` OS user when running as root and it is missing. This changes
   * the host for good, so it is off by default.
   */
  readonly createOsUser?: boolean;
  /** Folder for a copy of the PostgreSQL binaries when the `postgres` OS user cannot reach the installed ones. Default: /var/tmp. */
  readonly binaryCacheDir?: string;
  /**
   * Parent folder of clusters that are relocated because the `postgres` OS user cannot enter the
   * data folder (as root only). Default: /var/lib/onevault/clusters.
   */
  readonly relocatedClustersDir?: string;
  /** Receives one line per step (initdb, start, recovery after a crash). */
  readonly onProgress?: (message: string) => void;
}

/** A running embedded server, for the duration of one command. */
export interface EmbeddedServer {
  /** postgres://postgres:<password>@127.0.0.1:<port>/postgres */
  readonly connectionString: string;
  readonly port: number;
  readonly dataDir: string;
  /** The PostgreSQL cluster (PGDATA): `<dataDir>/data`, or a relocated folder when the `postgres` OS user cannot enter `dataDir`. */
  readonly clusterDir: string;
  readonly logFile: string;
  /** Process id of the postmaster. */
  readonly pid: number;
  /** False when a server left running by `onevault db start` was reused. */
  readonly startedByUs: boolean;
  /**
   * Releases this handle. The last handle of this process on a server that this process started
   * stops that server. A server left running by `onevault db start` keeps running. Safe to call twice.
   */
  stop(): Promise<void>;
}

/** State of an embedded data folder, for `onevault db status` and `onevault db url`. */
export interface EmbeddedStatus {
  readonly dataDir: string;
  /** The PostgreSQL cluster (PGDATA): `<dataDir>/data`, or the relocated folder that `<dataDir>/cluster-location` records. */
  readonly clusterDir: string;
  readonly running: boolean;
  /** Process id of the postmaster, when running. */
  readonly pid?: number;
  /** Port of the running server, or else the port stored for the next start (which may change if it is taken by then). */
  readonly port?: number;
  readonly connectionString?: string;
  readonly initialised: boolean;
  /** `command`: a onevault command owns the server and stops it when it ends. `detached`: left running by `onevault db start`. */
  readonly mode?: ServerLock['mode'];
  /** Process id of the onevault command that owns a command-scoped server. */
  readonly ownerPid?: number;
  readonly logFile: string;
}

type FolderClaim = { readonly kind: 'claimed' } | { readonly kind: 'detached'; readonly postmaster: PostmasterPidFile };

const CLAIM_ATTEMPTS = 5;
const CONNECT_TIMEOUT_MS = 5000;

function progressCallback(options: EmbeddedOptions): (message: string) => void {
  const onProgress = options.onProgress;
  if (onProgress === undefined) return () => undefined;
  return (message) => {
    try {
      onProgress(message);
    } catch {
      // A failing progress listener must not break the server's start or stop.
    }
  };
}

/** A context with the layout that the data folder records, and whether the server's OS user can enter the data folder. */
interface PreparedContext {
  readonly context: EmbeddedContext;
  readonly rootReachable: boolean;
}

async function prepareContext(options: EmbeddedOptions): Promise<PreparedContext> {
  const onProgress = progressCallback(options);
  const runAs = await resolveServerOsUser(options.createOsUser === true, onProgress);
  const binaries = await ensurePostgresBinaries({
    ...(runAs === undefined ? {} : { runAs }),
    ...(options.binaryCacheDir === undefined ? {} : { cacheRoot: options.binaryCacheDir }),
    onProgress,
  });
  const rootReachable = await ensureRootDir(resolveLayout(options.dataDir), runAs);
  const layout = await resolveRecordedLayout(options.dataDir);
  return { context: { layout, binaries, onProgress, ...(runAs === undefined ? {} : { runAs }) }, rootReachable };
}

/** Moves the context to the cluster's final folder, relocating it when needed. Call it only while holding server.lock. */
function locateCluster(prepared: PreparedContext, options: EmbeddedOptions): Promise<EmbeddedContext> {
  return ensureClusterLocation(prepared.context, prepared.rootReachable, options.relocatedClustersDir ?? DEFAULT_RELOCATED_CLUSTERS_DIR);
}

function inUseError(layout: EmbeddedLayout, lock: ServerLock): OnevaultError {
  const owner = lock.owner.pid === process.pid ? `this process (pid ${process.pid})` : `another onevault command (pid ${lock.owner.pid})`;
  return new OnevaultError('EMBEDDED_IN_USE', `The embedded PostgreSQL server in ${layout.rootDir} is in use by ${owner}, which stops it when it ends.`, {
    hint: 'Wait for that command to finish, or run `onevault db start` first so that several commands can share one server.',
  });
}

/**
 * Takes server.lock for a new server, or finds the server that `onevault db start` left running.
 * Removes locks whose owner has died or whose detached server has stopped.
 * Throws EMBEDDED_IN_USE while a live command owns the folder.
 */
async function claimDataFolder(context: EmbeddedContext): Promise<FolderClaim> {
  const { layout } = context;

  for (let attempt = 1; attempt <= CLAIM_ATTEMPTS; attempt += 1) {
    const lock = await readLock(layout);

    if (lock === undefined) {
      if (await tryCreateLock(layout, newLock('command'))) return { kind: 'claimed' };
      continue;
    }

    if (lock === 'invalid') {
      context.onProgress(`Removing the unreadable lock file ${layout.lockFile}`);
      await removeLock(layout);
      continue;
    }

    if (lock.mode === 'detached') {
      const postmaster = await findRunningPostmaster(layout);
      if (postmaster !== undefined && postmaster.pid === lock.postmasterPid) return { kind: 'detached', postmaster };
      context.onProgress(`The server that \`onevault db start\` left running in ${layout.rootDir} has stopped, so a new one starts`);
      await removeLock(layout);
      continue;
    }

    if (isLockOwnerAlive(lock)) throw inUseError(layout, lock);
    context.onProgress(`The onevault command (pid ${lock.owner.pid}) that ran the server in ${layout.rootDir} has ended without stopping it, so this process takes over the folder`);
    await removeLock(layout);
  }

  throw new OnevaultError('EMBEDDED_IN_USE', `Failed to take the lock ${layout.lockFile} after ${CLAIM_ATTEMPTS} attempts, because other processes keep changing it.`, {
    hint: 'Run the command again once the other onevault commands on this data folder have finished.',
  });
}

/** Starts the server of a claimed folder: initdb when needed, recovery after a crash, then pg_ctl start. */
async function launchServer(context: EmbeddedContext): Promise<RunningPostmaster> {
  const credentials = await ensureCluster(context);
  await clearPreviousPostmaster(context);
  return startPostmaster(context, credentials);
}

/** Checks that the server accepts the stored credentials, so that a reused server is known to work. */
async function verifyLogin(connectionString: string): Promise<void> {
  const client = new Client({ connectionString, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  // A connection error after connect() would otherwise be an unhandled 'error' event.
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function reuseDetachedServer(context: EmbeddedContext, postmaster: PostmasterPidFile): Promise<EmbeddedServer> {
  const { layout } = context;
  const stored = await readCredentials(layout);
  if (stored === undefined) {
    throw new OnevaultError('EMBEDDED_START_FAILED', `A server runs in ${layout.rootDir} (pid ${postmaster.pid}), but ${layout.credentialsFile} is missing.`, {
      hint: 'Run `onevault db stop`, then restore the credentials file or delete the data folder.',
    });
  }

  const connectionString = buildConnectionString({ ...stored, port: postmaster.port });
  try {
    await verifyLogin(connectionString);
  } catch (error) {
    throw new OnevaultError('EMBEDDED_START_FAILED', `The server left running by \`onevault db start\` in ${layout.rootDir} (pid ${postmaster.pid}, port ${postmaster.port}) rejected a login with the stored credentials: ${(error as Error).message}`, {
      hint: 'Run `onevault db stop`, then run the command again.',
      cause: error,
    });
  }

  context.onProgress(`Using the server that \`onevault db start\` left running on 127.0.0.1:${postmaster.port}`);
  return {
    connectionString,
    port: postmaster.port,
    dataDir: layout.rootDir,
    clusterDir: layout.clusterDir,
    logFile: layout.logFile,
    pid: postmaster.pid,
    startedByUs: false,
    stop: async () => undefined,
  };
}

/** Removes server.lock if this process still owns it. */
async function releaseOwnLock(layout: EmbeddedLayout): Promise<void> {
  const lock = await readLock(layout);
  if (lock !== undefined && lock !== 'invalid' && lock.owner.pid === process.pid) await removeLock(layout);
}

function commandScopedServer(context: EmbeddedContext, running: RunningPostmaster): EmbeddedServer {
  const { layout } = context;
  let stopping: Promise<void> | undefined;

  const stopSync = (): void => {
    forgetSharedServer(layout.rootDir);
    try {
      stopPostmasterSync(context);
    } finally {
      removeLockSync(layout);
    }
  };
  trackServer(layout.rootDir, stopSync);

  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      // The server stays tracked until it is down, so that an exit during the stop still stops it synchronously.
      try {
        const current = await findRunningPostmaster(layout);
        // `onevault db stop` or an exit handler may have stopped it already, and a later server may run there now.
        if (current?.pid === running.pid) await stopPostmaster(context);
      } finally {
        untrackServer(layout.rootDir, stopSync);
        await releaseOwnLock(layout);
      }
    })();
    return stopping;
  };

  return {
    connectionString: buildConnectionString(running.credentials),
    port: running.credentials.port,
    dataDir: layout.rootDir,
    clusterDir: layout.clusterDir,
    logFile: layout.logFile,
    pid: running.pid,
    startedByUs: true,
    stop,
  };
}

/**
 * Starts the embedded PostgreSQL server for one command, creating the cluster on first use, or
 * reuses the server that `onevault db start` left running. A second call in the same process on
 * the same data folder shares the server: each caller releases its handle with `stop()`, and the
 * last release stops the server. `registerEmbeddedShutdownHandlers` also stops it on exit and on
 * SIGINT/SIGTERM/SIGHUP. Recovers from a killed earlier run (orphaned server, stale
 * postmaster.pid or lock). As root, when the `postgres` OS user cannot enter the data folder, the
 * cluster and its log live in `<relocatedClustersDir>/<hash>/`, recorded in
 * `<dataDir>/cluster-location`.
 *
 * Throws OnevaultError: EMBEDDED_IN_USE while another command's server runs in the folder,
 * EMBEDDED_START_FAILED with the tail of the server log when the server fails to start,
 * EMBEDDED_OS_USER_MISSING as root without a `postgres` OS user.
 *
 * @example
 * const server = await startEmbedded({ dataDir: '.onevault' });
 * try {
 *   const client = new Client({ connectionString: server.connectionString });
 *   await client.connect();
 *   await client.query('SELECT 1');
 *   await client.end();
 * } finally {
 *   await server.stop();
 * }
 */
export async function startEmbedded(options: EmbeddedOptions = {}): Promise<EmbeddedServer> {
  const { rootDir } = resolveLayout(options.dataDir);
  return acquireSharedServer(
    rootDir,
    () => startServerForCommand(options),
    (server) => progressCallback(options)(`Sharing the embedded server (pid ${server.pid}) that this process already runs in ${rootDir}`),
  );
}

async function startServerForCommand(options: EmbeddedOptions): Promise<EmbeddedServer> {
  const prepared = await prepareContext(options);
  const claim = await claimDataFolder(prepared.context);
  if (claim.kind === 'detached') return reuseDetachedServer(prepared.context, claim.postmaster);

  const context = await locateCluster(prepared, options).catch(async (error: unknown) => {
    await removeLock(prepared.context.layout);
    throw error;
  });
  try {
    // NOTE: the shutdown handlers know the server only once it is tracked below. A process that
    // exits while pg_ctl is still starting it leaves it running until the next start in the folder stops it.
    const running = await launchServer(context);
    await replaceLock(context.layout, { ...newLock('command'), postmasterPid: running.pid, port: running.credentials.port });
    return commandScopedServer(context, running);
  } catch (error) {
    await removeLock(context.layout);
    throw error;
  }
}

/**
 * Starts the embedded server and leaves it running after this process exits, for
 * `onevault db start`. Later commands reuse it until `stopEmbedded`. Returns the status. When the
 * server already runs detached, it returns the status without starting anything.
 * Throws like `startEmbedded`, including EMBEDDED_IN_USE while a command-scoped server runs.
 */
export async function startEmbeddedDetached(options: EmbeddedOptions = {}): Promise<EmbeddedStatus> {
  const prepared = await prepareContext(options);
  const claim = await claimDataFolder(prepared.context);
  if (claim.kind === 'detached') {
    prepared.context.onProgress(`The embedded server in ${prepared.context.layout.rootDir} already runs (pid ${claim.postmaster.pid})`);
    return getEmbeddedStatus(options);
  }

  try {
    const context = await locateCluster(prepared, options);
    const running = await launchServer(context);
    await replaceLock(context.layout, { ...newLock('detached'), postmasterPid: running.pid, port: running.credentials.port });
  } catch (error) {
    await removeLock(prepared.context.layout);
    throw error;
  }
  return getEmbeddedStatus(options);
}

/**
 * Stops the embedded server of a data folder, for `onevault db stop`: a detached one, or an
 * orphan left by a killed command. Does nothing when no server runs. Returns the new status.
 * Throws EMBEDDED_IN_USE while a live command owns the server (it stops the server itself),
 * and EMBEDDED_STOP_FAILED when pg_ctl cannot stop it.
 */
export async function stopEmbedded(options: EmbeddedOptions = {}): Promise<EmbeddedStatus> {
  // NOTE: after the data folder was deleted, a server still running in its relocated cluster
  // folder is not found here. The next start in that data folder stops it and removes the cluster.
  if (!(await pathExists(resolveLayout(options.dataDir).rootDir))) return getEmbeddedStatus(options);
  const layout = await resolveRecordedLayout(options.dataDir);

  const lock = await readLock(layout);
  if (lock !== undefined && lock !== 'invalid' && lock.mode === 'command' && isLockOwnerAlive(lock) && !isServerTracked(layout.rootDir)) {
    throw inUseError(layout, lock);
  }

  const { context } = await prepareContext(options);
  const stopped = await stopPostmaster(context);
  if (stopped) context.onProgress(`Stopped the embedded PostgreSQL server in ${layout.rootDir}`);
  untrackServer(layout.rootDir);
  forgetSharedServer(layout.rootDir);
  await removeLock(layout);
  return getEmbeddedStatus(options);
}

function statusConnectionString(credentials: EmbeddedCredentials | undefined, port: number | undefined): string | undefined {
  if (credentials === undefined) return undefined;
  return buildConnectionString({ ...credentials, port: port ?? credentials.port });
}

/**
 * Reports whether the embedded server of a data folder is initialised and running, with its pid,
 * port and connection string. It only reads files, and starts or changes nothing.
 */
export async function getEmbeddedStatus(options: EmbeddedOptions = {}): Promise<EmbeddedStatus> {
  const layout = await resolveRecordedLayout(options.dataDir);
  const initialised = await isClusterInitialised(layout);
  const credentials = initialised ? await readCredentials(layout) : undefined;
  const postmaster = await findRunningPostmaster(layout);
  const lock = postmaster === undefined ? undefined : await readLock(layout);
  const ownedLock = lock === undefined || lock === 'invalid' ? undefined : lock;
  const port = postmaster?.port ?? credentials?.port;
  const connectionString = statusConnectionString(credentials, port);

  return {
    dataDir: layout.rootDir,
    clusterDir: layout.clusterDir,
    running: postmaster !== undefined,
    initialised,
    logFile: layout.logFile,
    ...(postmaster === undefined ? {} : { pid: postmaster.pid }),
    ...(port === undefined ? {} : { port }),
    ...(connectionString === undefined ? {} : { connectionString }),
    ...(ownedLock === undefined ? {} : { mode: ownedLock.mode }),
    ...(ownedLock?.mode === 'command' ? { ownerPid: ownedLock.owner.pid } : {}),
  };
}
