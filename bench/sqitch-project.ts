import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

import type { Migration } from '../src/migrations/catalog';

const PLANNER = 'onevault bench <bench@onevault.invalid>';
const PLANNED_AT = '2026-01-01T00:00:00Z';

/**
 * Writes a Sqitch project into a new temporary folder: one change per migration, named after it,
 * each depending on the one before. deploy/ contains the forward files and revert/ the rollback files
 * byte for byte (they keep their own BEGIN and COMMIT, as Sqitch's own PostgreSQL templates do);
 * verify/ contains empty scripts. Returns the folder.
 */
export function writeSqitchProject(migrations: readonly Migration[]): string {
  const directory = mkdtempSync(path.join(tmpdir(), 'onevault-bench-sqitch-'));
  for (const folder of ['deploy', 'revert', 'verify']) mkdirSync(path.join(directory, folder));

  writeFileSync(
    path.join(directory, 'sqitch.conf'),
    ['[core]', '\tengine = pg', '\tplan_file = sqitch.plan', '\ttop_dir = .', '[user]', '\tname = onevault bench', '\temail = bench@onevault.invalid', ''].join('\n'),
  );

  const planLines = ['%syntax-version=1.0.0', '%project=onevault_bench', ''];
  let previous: string | undefined;
  for (const migration of migrations) {
    const change = changeNameOf(migration);
    const requires = previous === undefined ? '' : ` [${previous}]`;
    planLines.push(`${change}${requires} ${PLANNED_AT} ${PLANNER} # ${migration.forward.fileName}`);
    writeFileSync(path.join(directory, 'deploy', `${change}.sql`), migration.forward.sql);
    writeFileSync(path.join(directory, 'revert', `${change}.sql`), migration.rollback.sql);
    writeFileSync(path.join(directory, 'verify', `${change}.sql`), '');
    previous = change;
  }
  writeFileSync(path.join(directory, 'sqitch.plan'), `${planLines.join('\n')}\n`);
  return directory;
}

/** Sqitch change name of a migration: `V001_system_operations_tenant`. */
export function changeNameOf(migration: Migration): string {
  return `${migration.version}_${migration.name}`;
}
