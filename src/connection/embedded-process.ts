import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';

/** OS account that runs the PostgreSQL binaries when this process is root. */
export interface OsUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

/** Outcome of a finished child process. `error` is set when it could not be spawned at all. */
export interface ProgramResult {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly error?: Error;
}

/** Identity of a process: the pid plus its start time, so that a reused pid is not mistaken for it. */
export interface ProcessIdentity {
  readonly pid: number;
  /** Start time in clock ticks since boot, from /proc/<pid>/stat, or undefined where /proc is missing. */
  readonly startTime?: number;
}

/**
 * Builds the environment for PostgreSQL programs: no PG* variables of the caller (PGPORT, for
 * example, would change the server's default port) and C messages, so that logs read the same
 * on every machine.
 */
function programEnvironment(): NodeJS.ProcessEnv {
  const environment: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('PG')) environment[name] = value;
  }
  environment.LC_ALL = 'C';
  return environment;
}

function spawnOptions(runAs: OsUser | undefined) {
  // The working directory is '/' because the server's OS user may not be able to enter ours.
  return {
    cwd: '/',
    env: programEnvironment(),
    ...(runAs === undefined ? {} : { uid: runAs.uid, gid: runAs.gid }),
  };
}

/**
 * Runs a program to completion, as `runAs` when given, and collects its output.
 * Never rejects: a failure to spawn (EACCES, ENOENT) is returned in `error`, so that no unhandled
 * 'error' event can crash the process.
 */
export function runProgram(file: string, args: readonly string[], runAs?: OsUser): Promise<ProgramResult> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let spawnError: Error | undefined;

    const child = spawn(file, args, { ...spawnOptions(runAs), stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', (error) => {
      spawnError = error;
    });
    child.on('close', (exitCode, signal) => {
      resolve({ exitCode, signal, stdout, stderr, ...(spawnError === undefined ? {} : { error: spawnError }) });
    });
  });
}

/** Runs a program synchronously, for exit handlers, where no asynchronous work can finish. */
export function runProgramSync(file: string, args: readonly string[], runAs?: OsUser): ProgramResult {
  const result = spawnSync(file, args, { ...spawnOptions(runAs), stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  return {
    exitCode: result.status,
    signal: result.signal,
    stdout: result.stdout ?? '',
    stderr: result.stderr ?? '',
    ...(result.error === undefined ? {} : { error: result.error }),
  };
}

/** Formats a failed program run for an error message: exit status and output. */
export function describeFailure(result: ProgramResult): string {
  if (result.error !== undefined) return result.error.message;
  const status = result.signal === null ? `exit code ${result.exitCode}` : `signal ${result.signal}`;
  const output = `${result.stderr}${result.stdout}`.trim();
  return output === '' ? status : `${status}: ${output}`;
}

const HAS_PROC_FS = existsSync('/proc/self/stat');

/**
 * Reads state and start time from /proc/<pid>/stat. Returns undefined when the process does not
 * exist, and null when /proc is not available on this OS.
 */
function readProcStat(pid: number): { readonly state: string; readonly startTime: number } | undefined | null {
  if (!HAS_PROC_FS) return null;

  const stat = readFileSafe(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;

  // The command name in brackets may contain spaces, so fields are counted after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '', startTime: Number(fields[19]) };
}

function readFileSafe(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Tells whether a process runs. A zombie counts as dead: after `kill -9` of a postmaster, its
 * zombie can linger until init reaps it, and it will never serve again.
 */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;

  const stat = readProcStat(pid);
  if (stat === undefined) return false;
  if (stat !== null) return stat.state !== 'Z' && stat.state !== 'X';

  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Returns the identity of a running process, for a lock file. */
export function identifyProcess(pid: number): ProcessIdentity {
  const stat = readProcStat(pid);
  return stat === undefined || stat === null ? { pid } : { pid, startTime: stat.startTime };
}

/** Tells whether the process recorded in `identity` still runs, and is the same process. */
export function isSameProcessAlive(identity: ProcessIdentity): boolean {
  if (!isProcessAlive(identity.pid)) return false;
  if (identity.startTime === undefined) return true;

  const stat = readProcStat(identity.pid);
  return stat === undefined || stat === null || stat.startTime === identity.startTime;
}

/** Tells whether a pid belongs to a running PostgreSQL server process. */
export function isPostgresProcessAlive(pid: number): boolean {
  if (!isProcessAlive(pid)) return false;

  const command = readFileSafe(`/proc/${pid}/comm`);
  // Without /proc the name cannot be checked, so a live pid is taken as the server.
  return command === undefined || command.trim() === 'postgres';
}

export function sleep(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}

/** Waits until a process has exited, for at most `timeoutMs`. Returns whether it exited. */
export async function waitForProcessExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isProcessAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await sleep(50);
  }
  return true;
}

const LOOPBACK = '127.0.0.1';

/** Tells whether a TCP port on 127.0.0.1 can be bound now. */
export function isLoopbackPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: LOOPBACK, port, exclusive: true }, () => {
      server.close(() => resolve(true));
    });
  });
}

/** Returns a TCP port on 127.0.0.1 that the OS reports free, and never 5432, PostgreSQL's default. */
export async function pickFreeLoopbackPort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen({ host: LOOPBACK, port: 0, exclusive: true }, () => {
        const address = server.address();
        const chosen = typeof address === 'object' && address !== null ? address.port : 0;
        server.close(() => resolve(chosen));
      });
    });
    if (port !== 0 && port !== 5432) return port;
  }
}
