import { spawn } from 'node:child_process';
import * as path from 'node:path';

/** The repository root, three folders above the compiled dist/test/helpers/cli.js. */
export const REPOSITORY_ROOT = path.resolve(__dirname, '..', '..', '..');
export const MIGRATIONS_DIR = path.join(REPOSITORY_ROOT, 'migrations');
const BIN = path.join(REPOSITORY_ROOT, 'bin', 'onevault.js');

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Connection variables removed from the environment of a CLI run unless the test passes them. */
const CONNECTION_VARIABLES = ['DATABASE_URL', 'PGHOST', 'PGPORT', 'PGDATABASE', 'PGUSER', 'PGPASSWORD', 'DB_HOST', 'DB_PORT', 'DB_NAME', 'DB_USER', 'DB_PASSWORD'];

/**
 * Runs `onevault ARGS` as a child process with no connection settings in its environment except
 * those in `env`, and resolves with its exit code and output. `input` is written to stdin.
 */
export function runCli(args: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  for (const name of CONNECTION_VARIABLES) delete env[name];
  Object.assign(env, options.env ?? {});

  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd ?? REPOSITORY_ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}
