import { MigrationKind } from './detection';

/** The parts of a migration file name `V<version>__<create|rollback>_<name>.sql`. */
export interface MigrationName {
  readonly version: string;
  readonly kind: MigrationKind;
  readonly name: string;
}

const MIGRATION_FILE = /^V(\d{3,})__(create|rollback)_([a-z0-9]+(?:_[a-z0-9]+)*)\.sql$/;

/** Parses a migration file name (without folder); returns undefined when it breaks the convention. */
export function parseMigrationName(fileName: string): MigrationName | undefined {
  const match = MIGRATION_FILE.exec(fileName);
  if (match === null) return undefined;
  return { version: match[1], kind: match[2] === 'create' ? 'forward' : 'rollback', name: match[3] };
}

/** Returns the file name of the other half of a pair: the rollback of a forward file and the reverse. */
export function partnerFileName(migration: MigrationName): string {
  const other = migration.kind === 'forward' ? 'rollback' : 'create';
  return `V${migration.version}__${other}_${migration.name}.sql`;
}
