import type { Command } from 'commander';

import { registerDbCommand } from './db';
import { registerDeployCommand } from './deploy';
import { registerRepairCommand } from './repair';
import { registerRollbackCommand } from './rollback';
import { registerStatusCommand } from './status';

/** Registers every command on the program, in the order `--help` lists them. */
export function registerCommands(program: Command): void {
  registerDeployCommand(program);
  registerRollbackCommand(program);
  registerStatusCommand(program);
  registerRepairCommand(program);
  registerDbCommand(program);
}
