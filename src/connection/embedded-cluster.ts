import { existsSync, readFileSync, realpathSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

import { OnevaultError } from '../errors';
import { PostgresBinaries } from './embedded-binaries';
import {
  EmbeddedCredentials,
  EmbeddedLayout,
  generatePassword,
  pathExists,
  PostmasterPidFile,
  readCredentials,
  readPostmasterPidFile,
  SUPERUSER_NAME,
  writeCredentials,
} from './embedded-layout';
import { canUserAccess } from './embedded-os-user';
import {
  describeFailure,
  isLoopbackPortFree,
  isProcessAlive,
  OsUser,
  pickFreeLoopbackPort,
  ProgramResult,
  runProgram,
  runProgramSync,
  sleep,
  waitForProcessExit,
} from './embedded-process';

/** Everything the cluster operations need: where the files are, which binaries, and as whom. */
export interface EmbeddedContext {
  readonly layout: EmbeddedLayout;
  readonly binaries: PostgresBinaries;
  /** OS user that runs the binaries, or undefined when they run as the current user. */
  readonly runAs?: OsUser;
  readonly onProgress: (message: string) => void;
}

/** A postmaster that pg_ctl reported ready. */
export interface RunningPostmaster {
  readonly pid: number;
  readonly credentials: EmbeddedCredentials;
}

const PG_CTL_TIMEOUT_SECONDS = 60;
const START_ATTEMPTS = 8;
const START_RETRY_DELAY_MS = 250;
const LOG_ROTATE_BYTES = 10 * 1024 * 1024;
const LOG_TAIL_LINES = 15;

/** Settings appended to postgresql.conf after initdb: TCP on 127.0.0.1 only, and no unix socket. */
const SERVER_SETTINGS = [
  '',
  '# Settings of the onevault embedded server.',
  "listen_addresses = '127.0.0.1'",
  "unix_socket_directories = ''",
  '',
].join('\n');

/** Client authentication: password (SCRAM) over TCP from 127.0.0.1, nothing else. */
const HBA_RULES = [
  '# Written by onevault: password (SCRAM) logins over TCP from 127.0.0.1 only.',
  '# TYPE  DATABASE     USER  ADDRESS       METHOD',
  'host    all          all   127.0.0.1/32  scram-sha-256',
  'host    replication  all   127.0.0.1/32  scram-sha-256',
  '',
].join('\n');

async function chownToServerUser(context: EmbeddedContext, file: string): Promise<void> {
  if (context.runAs !== undefined) await fs.chown(file, context.runAs.uid, context.runAs.gid);
}

/**
 * Creates the data folder, and tells whether the server's OS user can enter it. Sets mode 0755 on
 * a folder that this call creates, and never changes the permissions of a folder that existed.
 */
export async function ensureRootDir(layout: EmbeddedLayout, runAs: OsUser | undefined): Promise<boolean> {
  const firstCreated = await fs.mkdir(layout.rootDir, { recursive: true, mode: 0o755 });
  // mkdir applies the umask, which can remove the search permission that the server's OS user needs.
  if (firstCreated !== undefined) await fs.chmod(layout.rootDir, 0o755);
  return canUserAccess(runAs, '-x', layout.rootDir);
}

/**
 * Tells whether `pid` is the postmaster of this cluster: a live, non-zombie process whose command
 * line names this cluster folder after -D. A stale postmaster.pid can hold a pid that now belongs
 * to another program, for example a backend of the system's own PostgreSQL, which must never be
 * signalled.
 */
export function isPostmasterOf(pid: number, layout: EmbeddedLayout): boolean {
  if (!isProcessAlive(pid)) return false;

  let commandLine: string[];
  try {
    commandLine = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    // Without /proc the command line cannot be checked, so a live pid is taken as the server.
    return !existsSync('/proc/self/cmdline');
  }

  const dataArgument = commandLine[commandLine.indexOf('-D') + 1];
  if (!commandLine.includes('-D') || dataArgument === undefined) return false;
  return sameFile(dataArgument, layout.clusterDir);
}

function sameFile(left: string, right: string): boolean {
  try {
    return realpathSync(left) === realpathSync(right);
  } catch {
    return path.resolve(left) === path.resolve(right);
  }
}

/** Returns the postmaster.pid content when this cluster's server is running, else undefined. */
export async function findRunningPostmaster(layout: EmbeddedLayout): Promise<PostmasterPidFile | undefined> {
  const pidFile = await readPostmasterPidFile(layout);
  return pidFile !== undefined && isPostmasterOf(pidFile.pid, layout) ? pidFile : undefined;
}

/**
 * Returns the credentials of the cluster, running initdb first when there is no cluster yet.
 * Throws EMBEDDED_START_FAILED when initdb fails, or when a cluster exists without its credentials.
 */
export async function ensureCluster(context: EmbeddedContext): Promise<EmbeddedCredentials> {
  const { layout } = context;
  const credentials = await readCredentials(layout);
  const hasCluster = await pathExists(path.join(layout.clusterDir, 'PG_VERSION'));

  if (hasCluster && credentials !== undefined) return credentials;
  if (hasCluster) {
    throw new OnevaultError('EMBEDDED_START_FAILED', `${layout.clusterDir} contains a PostgreSQL cluster, but ${layout.credentialsFile}, which stores its password and port, is missing.`, {
      hint: `Restore ${layout.credentialsFile}, or delete ${layout.rootDir} to start with an empty database.`,
    });
  }
  if (await pathExists(layout.clusterDir)) {
    throw new OnevaultError('EMBEDDED_START_FAILED', `${layout.clusterDir} exists but is not a PostgreSQL cluster (PG_VERSION is missing).`, {
      hint: `Move ${layout.clusterDir} away, then run the command again to create a new cluster.`,
    });
  }

  return initialiseCluster(context);
}

/**
 * Runs initdb in a staging folder, configures authentication and listening, stores the new
 * credentials and then renames the staging folder into place, so an interrupted initdb never
 * leaves a half-made cluster where the next start would use it.
 */
async function initialiseCluster(context: EmbeddedContext): Promise<EmbeddedCredentials> {
  const { layout } = context;
  context.onProgress(`Initialising a new PostgreSQL cluster in ${layout.clusterDir}`);

  await fs.rm(layout.stagingClusterDir, { recursive: true, force: true });
  await fs.mkdir(layout.stagingClusterDir, { mode: 0o700 });
  await chownToServerUser(context, layout.stagingClusterDir);

  const password = generatePassword();
  const passwordFile = path.join(layout.serverDir, `initdb-password.${process.pid}.tmp`);
  await fs.writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
  let result: ProgramResult;
  try {
    await chownToServerUser(context, passwordFile);
    result = await runProgram(
      context.binaries.initdb,
      [
        `--pgdata=${layout.stagingClusterDir}`,
        `--username=${SUPERUSER_NAME}`,
        `--pwfile=${passwordFile}`,
        '--auth-host=scram-sha-256',
        '--auth-local=scram-sha-256',
        '--encoding=UTF8',
        '--locale=C',
        '--no-instructions',
      ],
      context.runAs,
    );
  } finally {
    await fs.rm(passwordFile, { force: true });
  }

  if (result.exitCode !== 0) {
    await fs.rm(layout.stagingClusterDir, { recursive: true, force: true });
    throw new OnevaultError('EMBEDDED_START_FAILED', `initdb failed to create a PostgreSQL cluster in ${layout.stagingClusterDir}: ${describeFailure(result)}`, {
      hint: 'Fix the cause reported by initdb, then run the command again.',
    });
  }

  const hbaFile = path.join(layout.stagingClusterDir, 'pg_hba.conf');
  await fs.writeFile(hbaFile, HBA_RULES, { mode: 0o600 });
  await chownToServerUser(context, hbaFile);
  await fs.appendFile(path.join(layout.stagingClusterDir, 'postgresql.conf'), SERVER_SETTINGS);

  const credentials: EmbeddedCredentials = { user: SUPERUSER_NAME, password, port: await pickFreeLoopbackPort() };
  await writeCredentials(layout, credentials);
  await fs.rename(layout.stagingClusterDir, layout.clusterDir);
  return credentials;
}

/** Moves a large log aside, and creates the log file so that the server's OS user can append to it. */
async function prepareLogFile(context: EmbeddedContext): Promise<number> {
  const { logFile } = context.layout;
  try {
    const { size } = await fs.stat(logFile);
    if (size <= LOG_ROTATE_BYTES) return size;
    await fs.rename(logFile, `${logFile}.1`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }

  await fs.writeFile(logFile, '', { mode: 0o600 });
  await chownToServerUser(context, logFile);
  return 0;
}

async function readLogFrom(logFile: string, offset: number): Promise<string> {
  try {
    const content = await fs.readFile(logFile);
    return content.subarray(Math.min(offset, content.length)).toString('utf8');
  } catch {
    return '';
  }
}

function lastLines(text: string, count: number): string {
  return text.trimEnd().split('\n').slice(-count).join('\n');
}

/**
 * Classifies a failed start by its log. A retry can succeed when the port was taken after the
 * check, or when the processes of a killed server are still exiting.
 */
function classifyStartFailure(log: string): 'port-taken' | 'previous-server-exiting' | 'other' {
  if (/could not bind|Address already in use/.test(log)) return 'port-taken';
  if (/lock file "postmaster\.pid" already exists|pre-existing shared memory block/.test(log)) return 'previous-server-exiting';
  return 'other';
}

function startFailedError(context: EmbeddedContext, port: number, result: ProgramResult, log: string): OnevaultError {
  const { layout } = context;
  const cause = log.match(/(?:FATAL|PANIC):\s+(.*)/)?.[1] ?? describeFailure(result);
  const logPart = log.trim() === '' ? `pg_ctl output: ${describeFailure(result)}` : `Last lines of ${layout.logFile}:\n${lastLines(log, LOG_TAIL_LINES)}`;
  return new OnevaultError('EMBEDDED_START_FAILED', `The embedded PostgreSQL server in ${layout.clusterDir} failed to start on port ${port}: ${cause}\n${logPart}`, {
    hint: `Fix the cause shown in ${layout.logFile}, then run the command again.`,
  });
}

/**
 * Starts the cluster's server with pg_ctl and waits until it accepts connections. Picks a new
 * free port when the stored one is taken, and stores it. Retries when the port is taken during
 * start-up or the processes of a killed server are still exiting.
 * Throws EMBEDDED_START_FAILED quoting the server log otherwise.
 */
export async function startPostmaster(context: EmbeddedContext, stored: EmbeddedCredentials): Promise<RunningPostmaster> {
  const { layout } = context;
  let credentials = stored;
  let portTaken = false;

  for (let attempt = 1; ; attempt += 1) {
    if (portTaken || !(await isLoopbackPortFree(credentials.port))) {
      const port = await pickFreeLoopbackPort();
      context.onProgress(`Port ${credentials.port} on 127.0.0.1 is taken, so the server uses port ${port} instead`);
      credentials = { ...credentials, port };
      await writeCredentials(layout, credentials);
    }

    const logOffset = await prepareLogFile(context);
    context.onProgress(`Starting the embedded PostgreSQL server (npm package ${context.binaries.version}) on 127.0.0.1:${credentials.port}`);
    const result = await runProgram(
      context.binaries.pgCtl,
      ['start', `--pgdata=${layout.clusterDir}`, `--log=${layout.logFile}`, '--wait', `--timeout=${PG_CTL_TIMEOUT_SECONDS}`, `--options=-p ${credentials.port}`],
      context.runAs,
    );

    const pidFile = await readPostmasterPidFile(layout);
    if (result.exitCode === 0 && pidFile !== undefined) return { pid: pidFile.pid, credentials };

    // pg_ctl gives up waiting after its timeout while the server may still be starting, and a
    // zombie of a killed server keeps its stale postmaster.pid blocking.
    await clearPreviousPostmaster(context);

    const log = await readLogFrom(layout.logFile, logOffset);
    const failure = classifyStartFailure(log);
    if (failure === 'other' || attempt >= START_ATTEMPTS) throw startFailedError(context, credentials.port, result, log);

    portTaken = failure === 'port-taken';
    await sleep(START_RETRY_DELAY_MS);
  }
}

/**
 * Makes the cluster folder free for a new server: stops an orphaned postmaster of this cluster
 * (its onevault process was killed) and removes a postmaster.pid whose process is gone.
 */
export async function clearPreviousPostmaster(context: EmbeddedContext): Promise<void> {
  const { layout } = context;
  const pidFile = await readPostmasterPidFile(layout);
  if (pidFile === undefined) return;

  if (isPostmasterOf(pidFile.pid, layout)) {
    context.onProgress(`Stopping the orphaned PostgreSQL server (pid ${pidFile.pid}) left running in ${layout.clusterDir}`);
    await stopPostmaster(context);
    return;
  }

  context.onProgress(`Removing the stale postmaster.pid of a server that is no longer running (pid ${pidFile.pid})`);
  await fs.rm(layout.postmasterPidFile, { force: true });
}

function pgCtlStopArguments(layout: EmbeddedLayout): string[] {
  // Fast mode rolls back open transactions and disconnects sessions, then shuts down cleanly.
  return ['stop', `--pgdata=${layout.clusterDir}`, '--mode=fast', '--wait', `--timeout=${PG_CTL_TIMEOUT_SECONDS}`];
}

function stopFailedError(layout: EmbeddedLayout, pid: number, result: ProgramResult): OnevaultError {
  return new OnevaultError('EMBEDDED_STOP_FAILED', `Failed to stop the embedded PostgreSQL server (pid ${pid}) in ${layout.clusterDir}: ${describeFailure(result)}`, {
    hint: `Check ${layout.logFile}. If the server hangs, end it with an immediate shutdown: kill -QUIT ${pid}`,
  });
}

/**
 * Stops this cluster's server if it runs. Returns whether a server was stopped.
 * Throws EMBEDDED_STOP_FAILED when pg_ctl fails and the server still runs.
 */
export async function stopPostmaster(context: EmbeddedContext): Promise<boolean> {
  const { layout } = context;
  const running = await findRunningPostmaster(layout);
  if (running === undefined) return false;

  const result = await runProgram(context.binaries.pgCtl, pgCtlStopArguments(layout), context.runAs);
  // pg_ctl can report a failure when the server exits during its check, so the process state decides.
  if (result.exitCode !== 0 && !(await waitForProcessExit(running.pid, 1000))) throw stopFailedError(layout, running.pid, result);
  return true;
}

/** Stops this cluster's server synchronously, for exit handlers. Returns whether a server was stopped. */
export function stopPostmasterSync(context: EmbeddedContext): boolean {
  const { layout } = context;
  let pid: number;
  try {
    pid = Number(readFileSync(layout.postmasterPidFile, 'utf8').split('\n')[0]);
  } catch {
    return false;
  }
  if (!isPostmasterOf(pid, layout)) return false;

  const result = runProgramSync(context.binaries.pgCtl, pgCtlStopArguments(layout), context.runAs);
  if (result.exitCode !== 0 && isProcessAlive(pid)) throw stopFailedError(layout, pid, result);
  return true;
}
