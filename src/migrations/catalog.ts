import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

import { OnevaultError } from '../errors';

export type Direction = 'FORWARD' | 'ROLLBACK';

export interface MigrationFile {
  readonly path: string;
  readonly fileName: string;
  readonly sql: string;
  /** SHA-256 of the file's bytes, lower-case hex. */
  readonly checksum: string;
}

/** One migration: its forward (`create`) and rollback file. */
export interface Migration {
  /** `V` and three digits, for example `V001`. */
  readonly version: string;
  readonly number: number;
  readonly name: string;
  readonly forward: MigrationFile;
  readonly rollback: MigrationFile;
}

/** File names the catalog accepts: `V###__create_<name>.sql` and `V###__rollback_<name>.sql`. */
export const MIGRATION_FILE_PATTERN = /^V(\d{3})__(create|rollback)_([a-z0-9]+(?:_[a-z0-9]+)*)\.sql$/;

interface ParsedName {
  readonly fileName: string;
  readonly number: number;
  readonly kind: 'create' | 'rollback';
  readonly name: string;
}

/**
 * Reads a migrations folder and returns its migrations in version order. Throws before anything runs
 * when the folder is missing, a `.sql` file is misnamed, a version appears twice, a file has no
 * partner, or the versions have a gap.
 */
export async function loadMigrations(directory: string): Promise<readonly Migration[]> {
  const fileNames = await readSqlFileNames(directory);
  const parsed = fileNames.map((fileName) => parseFileName(directory, fileName));
  const byNumber = groupByNumber(directory, parsed);

  const migrations: Migration[] = [];
  for (const [number, files] of [...byNumber.entries()].sort((a, b) => a[0] - b[0])) {
    const forward = files.find((file) => file.kind === 'create');
    const rollback = files.find((file) => file.kind === 'rollback');
    if (!forward || !rollback) {
      const present = (forward ?? rollback) as ParsedName;
      const missing = forward ? `V${pad(number)}__rollback_${present.name}.sql` : `V${pad(number)}__create_${present.name}.sql`;
      throw new OnevaultError('MIGRATION_UNPAIRED', `${present.fileName} in ${directory} has no partner: ${missing} is missing.`, {
        hint: 'Every migration is a pair of a create and a rollback file. Add the missing file (onevault new NAME writes both).',
        version: `V${pad(number)}`,
      });
    }
    migrations.push({
      version: `V${pad(number)}`,
      number,
      name: forward.name,
      forward: await readMigrationFile(directory, forward.fileName),
      rollback: await readMigrationFile(directory, rollback.fileName),
    });
  }

  checkForGaps(directory, migrations);
  return migrations;
}

async function readSqlFileNames(directory: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await fs.readdir(directory);
  } catch (error) {
    throw new OnevaultError('MIGRATIONS_DIR_NOT_FOUND', `The migrations folder ${directory} cannot be read: ${(error as Error).message}.`, {
      hint: 'Pass the folder with --migrations DIR, or run onevault from the project that contains migrations/.',
      cause: error,
    });
  }
  // Hidden files (editor backups, macOS "._" metadata) are not migrations.
  return entries.filter((entry) => entry.toLowerCase().endsWith('.sql') && !entry.startsWith('.')).sort();
}

function parseFileName(directory: string, fileName: string): ParsedName {
  const match = MIGRATION_FILE_PATTERN.exec(fileName);
  if (!match) {
    throw new OnevaultError('MIGRATION_FILE_NAME_INVALID', `${path.join(directory, fileName)} does not follow the naming rule V###__create_<name>.sql or V###__rollback_<name>.sql.`, {
      hint: 'Rename the file (lower-case name with underscores, three-digit version), or move it out of the migrations folder.',
    });
  }
  return { fileName, number: Number(match[1]), kind: match[2] as 'create' | 'rollback', name: match[3] };
}

function groupByNumber(directory: string, parsed: readonly ParsedName[]): Map<number, ParsedName[]> {
  const byNumber = new Map<number, ParsedName[]>();
  for (const file of parsed) {
    const files = byNumber.get(file.number) ?? [];
    const clash = files.find((other) => other.kind === file.kind || other.name !== file.name);
    if (clash) {
      throw new OnevaultError('MIGRATION_DUPLICATE_VERSION', `Version V${pad(file.number)} is used by both ${clash.fileName} and ${file.fileName} in ${directory}.`, {
        hint: 'Give one of the migrations the next free version number, because a version names exactly one create and one rollback file.',
        version: `V${pad(file.number)}`,
      });
    }
    files.push(file);
    byNumber.set(file.number, files);
  }
  return byNumber;
}

function checkForGaps(directory: string, migrations: readonly Migration[]): void {
  for (let index = 1; index < migrations.length; index += 1) {
    const previous = migrations[index - 1];
    const current = migrations[index];
    if (current.number !== previous.number + 1) {
      throw new OnevaultError('MIGRATION_VERSION_GAP', `The migrations in ${directory} jump from ${previous.version} to ${current.version}.`, {
        hint: `Add the missing version(s) or renumber ${current.version}, because versions must follow each other without gaps.`,
        version: current.version,
      });
    }
  }
}

async function readMigrationFile(directory: string, fileName: string): Promise<MigrationFile> {
  const filePath = path.join(directory, fileName);
  const stat = await fs.stat(filePath).catch((error: NodeJS.ErrnoException) => {
    throw new OnevaultError('MIGRATION_FILE_INVALID', `${filePath} cannot be read: ${error.message}.`, {
      hint: 'Remove the broken link or file from the migrations folder, or restore its target.',
      cause: error,
    });
  });
  if (!stat.isFile()) {
    throw new OnevaultError('MIGRATION_FILE_INVALID', `${filePath} is not a regular file.`, {
      hint: 'Move it out of the migrations folder: every V###__*.sql entry there must be a migration file.',
    });
  }

  const sql = stripByteOrderMark((await fs.readFile(filePath)).toString('utf8'));
  if (!/\S/.test(stripComments(sql))) {
    throw new OnevaultError('MIGRATION_FILE_INVALID', `${filePath} contains no SQL statement.`, {
      hint: 'Write the migration (onevault new NAME writes a template), or remove the empty pair.',
    });
  }
  const metaCommandLine = findMetaCommandLine(sql);
  if (metaCommandLine !== undefined) {
    throw new OnevaultError('MIGRATION_FILE_INVALID', `${filePath} line ${metaCommandLine} is a psql meta-command, which only psql understands.`, {
      hint: 'Write it as SQL (for example SET instead of \\set), so that the file also runs in pgAdmin and through onevault.',
    });
  }
  return { path: filePath, fileName, sql, checksum: checksumOf(sql) };
}

/**
 * Returns the SHA-256 of a migration's text with line endings normalised to LF, lower-case hex.
 * The same file checked out with CRLF line endings, or saved with a byte order mark, keeps its checksum.
 */
export function checksumOf(sql: string): string {
  return createHash('sha256').update(stripByteOrderMark(sql).replace(/\r\n/g, '\n'), 'utf8').digest('hex');
}

function stripByteOrderMark(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function stripComments(sql: string): string {
  return sql.replace(/\/\*[\s\S]*?\*\//g, '').replace(/--[^\n]*/g, '');
}

/** Returns the 1-based number of the first line that starts with a backslash outside dollar quotes, if any. */
function findMetaCommandLine(sql: string): number | undefined {
  let openTag: string | undefined;
  const lines = sql.split('\n');
  for (let index = 0; index < lines.length; index += 1) {
    const line = lines[index];
    if (openTag === undefined && /^\s*\\/.test(line)) return index + 1;
    for (const match of line.matchAll(/\$[A-Za-z_]*\$/g)) {
      if (openTag === undefined) openTag = match[0];
      else if (match[0] === openTag) openTag = undefined;
    }
  }
  return undefined;
}

function pad(number: number): string {
  return String(number).padStart(3, '0');
}

/**
 * Returns the canonical form (`V001`) of a version given as `V001`, `v1`, `001` or `1`.
 * Throws `INVALID_ARGUMENT` for anything else.
 */
export function normalizeVersion(input: string): string {
  const match = /^[vV]?(\d{1,3})$/.exec(input.trim());
  if (!match) {
    throw new OnevaultError('INVALID_ARGUMENT', `"${input}" is not a migration version.`, {
      hint: 'Give a version such as V001 (V, then three digits).',
    });
  }
  return `V${pad(Number(match[1]))}`;
}
