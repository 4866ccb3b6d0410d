import { spawnSync } from 'node:child_process';

/** A program some benchmarks need, with the Debian packages that provide it. */
export interface Prerequisite {
  readonly name: string;
  /** Returns true when the program is usable as it is. */
  readonly isPresent: () => boolean;
  readonly debianPackages: readonly string[];
}

export const PSQL: Prerequisite = {
  name: 'psql',
  isPresent: () => commandSucceeds('psql', ['--version']),
  debianPackages: ['postgresql-client'],
};

// Sqitch's PostgreSQL engine needs the Perl driver DBD::Pg as well as psql.
export const SQITCH: Prerequisite = {
  name: 'sqitch (with DBD::Pg)',
  isPresent: () => commandSucceeds('sqitch', ['--version']) && commandSucceeds('perl', ['-MDBD::Pg', '-e', '1']),
  debianPackages: ['sqitch', 'libdbd-pg-perl'],
};

/**
 * Installs the missing prerequisites with apt-get, saying so on stderr first. Throws when a program
 * is missing and cannot be installed (not root, or apt-get failed), naming the packages to install.
 */
export function ensurePrerequisites(prerequisites: readonly Prerequisite[], log: (line: string) => void): void {
  const missing = prerequisites.filter((prerequisite) => !prerequisite.isPresent());
  if (missing.length === 0) return;

  const packages = [...new Set(missing.flatMap((prerequisite) => prerequisite.debianPackages))];
  const names = missing.map((prerequisite) => prerequisite.name).join(', ');
  if (process.getuid?.() !== 0 || !commandSucceeds('apt-get', ['--version'])) {
    throw new Error(`${names} missing and this process cannot install it; run: sudo apt-get install -y ${packages.join(' ')}`);
  }

  log(`Installing ${names} for the benchmarks: apt-get install -y ${packages.join(' ')}`);
  runOrThrow('apt-get', ['update', '-qq']);
  runOrThrow('apt-get', ['install', '-y', '-qq', ...packages]);

  const stillMissing = missing.filter((prerequisite) => !prerequisite.isPresent());
  if (stillMissing.length > 0) {
    throw new Error(`${stillMissing.map((prerequisite) => prerequisite.name).join(', ')} still missing after apt-get install ${packages.join(' ')}`);
  }
}

function commandSucceeds(command: string, args: readonly string[]): boolean {
  const result = spawnSync(command, [...args], { stdio: 'ignore' });
  return result.status === 0;
}

function runOrThrow(command: string, args: readonly string[]): void {
  const result = spawnSync(command, [...args], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed with exit code ${result.status}`);
}
