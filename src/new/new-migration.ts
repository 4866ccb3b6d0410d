import { promises as fs } from 'node:fs';
import * as path from 'node:path';

import { OnevaultError } from '../errors';
import { loadMigrations } from '../migrations/catalog';

/** Folder of the SQL templates shipped with the package. */
export const TEMPLATES_DIR = path.resolve(__dirname, '..', '..', '..', 'templates');

/** Maximum name length that keeps every identifier the template derives (`<name>_describe`, backup tables) within PostgreSQL's 63 bytes. */
export const MAX_NAME_LENGTH = 40;
const NAME_PATTERN = /^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$/;

export interface NewMigrationOptions {
  readonly migrationsDir: string;
  readonly name: string;
  /** Human title used in headers and NOTICE lines; derived from the name when absent. */
  readonly title?: string;
}

export interface NewMigrationResult {
  readonly version: string;
  readonly forwardPath: string;
  readonly rollbackPath: string;
}

/**
 * Writes the next `V###__create_NAME.sql` and `V###__rollback_NAME.sql` from the templates.
 * Throws `INVALID_ARGUMENT` for a name that is not lower-case snake_case or is taken, or for a
 * folder without the platform migrations, and the catalog's errors when the folder is missing or
 * inconsistent. Never creates the folder and never overwrites a file.
 */
export async function createMigrationPair(options: NewMigrationOptions): Promise<NewMigrationResult> {
  validateName(options.name);
  const migrations = await loadMigrations(options.migrationsDir);
  if (migrations.length === 0) {
    throw new OnevaultError('INVALID_ARGUMENT', `${options.migrationsDir} contains no migrations, and the template builds on the platform foundation (V000).`, {
      hint: "Copy the platform's migrations (the migrations/ folder of onevault) into it first, or pass the folder that holds them with --migrations.",
    });
  }
  if (migrations.some((migration) => migration.name === options.name)) {
    throw new OnevaultError('INVALID_ARGUMENT', `A migration named "${options.name}" exists already in ${options.migrationsDir}.`, {
      hint: 'Choose another name, or change the existing migration pair.',
    });
  }

  const number = migrations[migrations.length - 1].number + 1;
  if (number > 999) {
    throw new OnevaultError('INVALID_ARGUMENT', `${options.migrationsDir} already contains version V999, the last three-digit version.`, {
      hint: 'Squash old migrations into a new baseline in a fresh folder.',
    });
  }
  const version = `V${String(number).padStart(3, '0')}`;
  const values: Record<string, string> = {
    VERSION: version,
    VERSION_LOWER: version.toLowerCase(),
    NAME: options.name,
    TITLE: options.title?.trim() || titleOf(options.name),
  };

  const forwardPath = path.join(options.migrationsDir, `${version}__create_${options.name}.sql`);
  const rollbackPath = path.join(options.migrationsDir, `${version}__rollback_${options.name}.sql`);
  await writeNewFile(forwardPath, fill(await fs.readFile(path.join(TEMPLATES_DIR, 'create.sql.template'), 'utf8'), values));
  try {
    await writeNewFile(rollbackPath, fill(await fs.readFile(path.join(TEMPLATES_DIR, 'rollback.sql.template'), 'utf8'), values));
  } catch (error) {
    // Leave no unpaired file behind: the catalog would reject the folder.
    await fs.rm(forwardPath, { force: true });
    throw error;
  }
  return { version, forwardPath, rollbackPath };
}

function validateName(name: string): void {
  if (!NAME_PATTERN.test(name) || name.length > MAX_NAME_LENGTH) {
    throw new OnevaultError('INVALID_ARGUMENT', `"${name}" is not a valid migration name.`, {
      hint: `Use lower-case letters, digits and single underscores, starting with a letter, at most ${MAX_NAME_LENGTH} characters, for example maintenance_window.`,
    });
  }
}

function titleOf(name: string): string {
  return name
    .split('_')
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join(' ');
}

function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{\{([A-Z_]+)\}\}/g, (placeholder, key: string) => {
    const value = values[key];
    if (value === undefined) throw new OnevaultError('INTERNAL_ERROR', `The migration template uses an unknown placeholder ${placeholder}.`);
    return key === 'TITLE' ? value.replace(/'/g, "''") : value;
  });
}

async function writeNewFile(filePath: string, content: string): Promise<void> {
  try {
    await fs.writeFile(filePath, content, { flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new OnevaultError('INVALID_ARGUMENT', `${filePath} exists already, and onevault new never overwrites a file.`, { hint: 'Remove or rename it first.', cause: error });
    }
    throw error;
  }
}
