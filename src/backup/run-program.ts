import { spawn } from 'node:child_process';

export interface ProgramResult {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunProgramOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Sends SIGTERM to the program when it aborts. */
  readonly signal?: AbortSignal;
}

/** Longest stderr kept for error messages; pg_dump can be verbose and only the end matters. */
const STDERR_KEEP_CHARS = 4_000;

/**
 * Runs a program without a shell and collects its output. Resolves with the exit code, also a
 * failing one; rejects only when the program cannot be started.
 */
export function runProgram(file: string, args: readonly string[], options: RunProgramOptions = {}): Promise<ProgramResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, [...args], { env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_KEEP_CHARS);
    });

    const onAbort = (): void => {
      child.kill('SIGTERM');
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });

    child.on('error', (error) => {
      options.signal?.removeEventListener('abort', onAbort);
      reject(error);
    });
    child.on('close', (exitCode, signal) => {
      options.signal?.removeEventListener('abort', onAbort);
      resolve({ exitCode, signal, stdout: Buffer.concat(stdout).toString('utf8'), stderr: stderr.trim() });
    });
  });
}
