import { randomBytes } from 'node:crypto';
import type { Client, ClientConfig } from 'pg';

import { connectClient, quoteIdentifier, withDatabase } from '../connection/connect';
import { OnevaultError, postgresFieldsOf } from '../errors';

/** Default start of scratch database names; the rest is 12 random hex digits. */
export const DEFAULT_SCRATCH_PREFIX = 'onevault_verify_';

/** A throwaway database and an open session on it. */
export interface ScratchDatabase {
  readonly name: string;
  readonly client: Client;
  /** Settings that open another session on the scratch database, for example to cancel a statement. */
  readonly config: ClientConfig;
}

export interface ScratchDatabaseHooks {
  readonly onCreated?: (name: string) => void;
  readonly onDropped?: (name: string) => void;
  /** Called when the database could not be dropped while `work` had already failed; that error wins. */
  readonly onDropFailed?: (name: string, error: OnevaultError) => void;
}

/**
 * Creates a database with a unique name from `template0` on the server that `admin` connects to,
 * runs `work` with a session on it, and drops it with `DROP DATABASE ... WITH (FORCE)` afterwards,
 * also when `work` throws. The database that `admin` names is only used to issue these two
 * statements. Throws `SCRATCH_DATABASE_FAILED` when the database cannot be created, or cannot be
 * dropped after `work` succeeded.
 */
export async function withScratchDatabase<T>(
  admin: ClientConfig,
  prefix: string,
  hooks: ScratchDatabaseHooks,
  work: (scratch: ScratchDatabase) => Promise<T>,
): Promise<T> {
  const name = `${prefix}${randomBytes(6).toString('hex')}`;
  await runAdminStatement(admin, `CREATE DATABASE ${quoteIdentifier(name)} TEMPLATE template0`, name, 'create');
  hooks.onCreated?.(name);

  let result: T;
  try {
    const config = withDatabase(admin, name);
    const client = await connectClient(config, `scratch database ${name}`);
    try {
      result = await work({ name, client, config });
    } finally {
      await client.end().catch(() => undefined);
    }
  } catch (error) {
    await dropDatabase(admin, name).then(
      () => hooks.onDropped?.(name),
      (dropError: OnevaultError) => hooks.onDropFailed?.(name, dropError),
    );
    throw error;
  }

  await dropDatabase(admin, name);
  hooks.onDropped?.(name);
  return result;
}

function dropDatabase(admin: ClientConfig, name: string): Promise<void> {
  return runAdminStatement(admin, `DROP DATABASE IF EXISTS ${quoteIdentifier(name)} WITH (FORCE)`, name, 'drop');
}

async function runAdminStatement(admin: ClientConfig, sql: string, name: string, action: 'create' | 'drop'): Promise<void> {
  const client = await connectClient(admin, 'the server of the scratch database');
  try {
    await client.query(sql);
  } catch (error) {
    throw new OnevaultError('SCRATCH_DATABASE_FAILED', `Could not ${action} the scratch database ${name}: ${(error as Error).message}.`, {
      hint:
        action === 'create'
          ? 'Connect as a user with the CREATEDB privilege; verify never changes the target database itself.'
          : `Drop it by hand: DROP DATABASE ${quoteIdentifier(name)} WITH (FORCE);`,
      cause: error,
      postgres: postgresFieldsOf(error),
    });
  } finally {
    await client.end().catch(() => undefined);
  }
}
