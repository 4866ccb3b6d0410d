import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

import { elapsedMs } from './statistics';

/** Outcome of one program run. */
export interface ProgramRun {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Wall time from spawn to exit, in milliseconds. */
  readonly wallMs: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunProgramOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** The run is killed with SIGKILL after this many milliseconds. Default 10 minutes. */
  readonly timeoutMs?: number;
  /** Called for every complete line of stderr with the ms since spawn at which it arrived. */
  readonly onStderrLine?: (line: string, atMs: number) => void;
}

const DEFAULT_PROGRAM_TIMEOUT_MS = 10 * 60_000;

/** Runs a program to its end and times it. A non-zero exit is returned, not thrown (see `expectSuccess`); a failed spawn rejects. */
export function runProgram(command: string, args: readonly string[], options: RunProgramOptions = {}): Promise<ProgramRun> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(command, [...args], { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let wallMs = 0;

    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? DEFAULT_PROGRAM_TIMEOUT_MS);
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    let partialLine = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr.push(chunk);
      if (options.onStderrLine === undefined) return;
      const atMs = elapsedMs(started);
      const lines = (partialLine + chunk.toString('utf8')).split('\n');
      partialLine = lines.pop() ?? '';
      for (const line of lines) options.onStderrLine(line, atMs);
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('exit', () => {
      wallMs = elapsedMs(started);
    });
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      resolve({
        exitCode,
        signal,
        wallMs,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      });
    });
  });
}

/** Throws with the program's output when it did not exit with code 0. */
export function expectSuccess<T extends ProgramRun>(run: T, description: string): T {
  if (run.exitCode === 0) return run;
  const output = `${run.stdout}\n${run.stderr}`.trim().split('\n').slice(-30).join('\n');
  throw new Error(`${description} failed (exit code ${run.exitCode ?? run.signal}):\n${output}`);
}

/** A CLI run together with the resource use of the CLI process. */
export interface CliRun extends ProgramRun {
  /** Peak RSS of the node process that ran the CLI, in MiB. */
  readonly peakRssMiB: number;
  /** User plus system CPU time of that process, in ms; unlike wall time, waiting for a core does not add to it. */
  readonly cpuMs: number;
}

/**
 * Runs `node bin/onevault.js ARGS` of the repository at `root` with the usage probe preloaded,
 * and returns the run with the process's peak RSS and CPU time.
 */
export async function runCli(root: string, args: readonly string[], options: RunProgramOptions = {}): Promise<CliRun> {
  const probeDir = mkdtempSync(path.join(tmpdir(), 'onevault-bench-rss-'));
  const probeFile = path.join(probeDir, 'usage.json');
  try {
    const run = await runProgram(
      process.execPath,
      ['--require', path.join(__dirname, 'resource-usage-probe.js'), path.join(root, 'bin', 'onevault.js'), ...args],
      { ...options, env: { ...(options.env ?? cliEnvironment()), ONEVAULT_BENCH_USAGE_FILE: probeFile } },
    );
    if (run.exitCode === null) return { ...run, peakRssMiB: Number.NaN, cpuMs: Number.NaN };

    const usage = JSON.parse(readFileSync(probeFile, 'utf8')) as { maxRssKiB: number; userCpuUs: number; systemCpuUs: number };
    return { ...run, peakRssMiB: usage.maxRssKiB / 1024, cpuMs: (usage.userCpuUs + usage.systemCpuUs) / 1000 };
  } finally {
    rmSync(probeDir, { recursive: true, force: true });
  }
}

/**
 * Returns the environment for programs under test without the variables that choose a database,
 * so that only the explicit `--database-url` or psql flags do.
 */
export function cliEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  for (const name of Object.keys(env)) {
    if (name === 'DATABASE_URL' || name.startsWith('PG') || name.startsWith('DB_')) delete env[name];
  }
  return env;
}

/** Returns whether the built CLI has the command, by asking for its help. */
export async function hasCliCommand(root: string, command: string): Promise<boolean> {
  const run = await runProgram(process.execPath, [path.join(root, 'bin', 'onevault.js'), command, '--help'], { env: cliEnvironment() });
  return run.exitCode === 0 && run.stdout.includes(`onevault ${command}`);
}
