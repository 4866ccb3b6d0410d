import type { Command } from 'commander';

/** A command's name on the command line and its register function, loaded on first use. */
interface CommandEntry {
  readonly name: string;
  readonly load: () => (program: Command) => unknown;
}

// Each module is required only when its command is registered, because loading every command's
// modules at each start costs time that a run of one command does not need.
const COMMANDS: readonly CommandEntry[] = [
  { name: 'deploy', load: () => (require('./deploy') as typeof import('./deploy')).registerDeployCommand },
  { name: 'rollback', load: () => (require('./rollback') as typeof import('./rollback')).registerRollbackCommand },
  { name: 'status', load: () => (require('./status') as typeof import('./status')).registerStatusCommand },
  { name: 'repair', load: () => (require('./repair') as typeof import('./repair')).registerRepairCommand },
  { name: 'restore', load: () => (require('./restore') as typeof import('./restore')).registerRestoreCommand },
  { name: 'test', load: () => (require('./test') as typeof import('./test')).registerTestCommand },
  { name: 'checklist', load: () => (require('./checklist') as typeof import('./checklist')).registerChecklistCommand },
  { name: 'health', load: () => (require('./health') as typeof import('./health')).registerHealthCommand },
  // After deploy: it also adds the --backup option to deploy.
  { name: 'backup', load: () => (require('./backup') as typeof import('./backup')).registerBackupCommand },
  { name: 'lint', load: () => (require('./lint') as typeof import('./lint')).registerLintCommand },
  { name: 'verify', load: () => (require('./verify') as typeof import('./verify')).registerVerifyCommand },
  { name: 'new', load: () => (require('./new') as typeof import('./new')).registerNewCommand },
  { name: 'tenant', load: () => (require('./tenant') as typeof import('./tenant')).registerTenantCommand },
  { name: 'db', load: () => (require('./db') as typeof import('./db')).registerDbCommand },
];

/** Commands that must be registered with another one, because they change its options. */
const COMPANIONS: Readonly<Record<string, readonly string[]>> = { deploy: ['backup'] };

/**
 * Registers the commands on the program, in the order `--help` lists them. With `only`, the name
 * of a known command, it registers just that command and its companions (backup, which adds
 * `deploy --backup`), so that a run loads only the modules it uses.
 */
export function registerCommands(program: Command, only?: string): void {
  let wanted: Set<string> | undefined;
  if (only !== undefined && COMMANDS.some((entry) => entry.name === only)) {
    wanted = new Set([only, ...(COMPANIONS[only] ?? [])]);
  }

  for (const entry of COMMANDS) {
    if (wanted === undefined || wanted.has(entry.name)) entry.load()(program);
  }
}
