import type { Command } from 'commander';

import { registerBackupCommand } from './backup';
import { registerChecklistCommand } from './checklist';
import { registerDbCommand } from './db';
import { registerDeployCommand } from './deploy';
import { registerNewCommand } from './new';
import { registerHealthCommand } from './health';
import { registerLintCommand } from './lint';
import { registerRepairCommand } from './repair';
import { registerRestoreCommand } from './restore';
import { registerRollbackCommand } from './rollback';
import { registerStatusCommand } from './status';
import { registerTenantCommand } from './tenant';
import { registerTestCommand } from './test';
import { registerVerifyCommand } from './verify';

/** Registers every command on the program, in the order `--help` lists them. */
export function registerCommands(program: Command): void {
  registerDeployCommand(program);
  registerRollbackCommand(program);
  registerStatusCommand(program);
  registerRepairCommand(program);
  registerRestoreCommand(program);
  registerTestCommand(program);
  registerChecklistCommand(program);
  registerHealthCommand(program);
  registerBackupCommand(program);
  registerLintCommand(program);
  registerVerifyCommand(program);
  registerNewCommand(program);
  registerTenantCommand(program);
  registerDbCommand(program);
}
