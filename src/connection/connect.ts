import { Client, type ClientConfig } from 'pg';

import { OnevaultError, postgresFieldsOf } from '../errors';
import type { ServerTarget } from './settings';

/** Value of `application_name` for every session the tool opens, so operators can see it in pg_stat_activity. */
export const APPLICATION_NAME = 'onevault';

const CONNECT_TIMEOUT_MS = 10_000;

/**
 * Opens a session on the target. Throws an `OnevaultError` whose code names the fault:
 * `CONNECTION_REFUSED`, `AUTHENTICATION_FAILED`, `DATABASE_NOT_FOUND`, `INSUFFICIENT_PRIVILEGE`.
 */
export async function connectClient(config: ClientConfig, display: string): Promise<Client> {
  const client = new Client({
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    application_name: APPLICATION_NAME,
    ...config,
  });
  // An idle client whose server goes away emits 'error'; without a listener that would crash the process.
  client.on('error', () => undefined);

  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw describeConnectError(error, display);
  }
  return client;
}

/** Turns a connection failure of node-postgres into an `OnevaultError` with a hint on what to do. */
export function describeConnectError(error: unknown, display: string): OnevaultError {
  const fields = postgresFieldsOf(error);
  const message = error instanceof Error ? error.message : String(error);
  const systemCode = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;

  if (fields?.sqlstate === '3D000') {
    return new OnevaultError('DATABASE_NOT_FOUND', `The database in ${display} does not exist: ${message}.`, {
      hint: 'Create it (onevault deploy --create-database does so), or point the connection settings at an existing database.',
      cause: error,
      postgres: fields,
    });
  }
  if (fields?.sqlstate === '28P01' || fields?.sqlstate === '28000') {
    return new OnevaultError('AUTHENTICATION_FAILED', `The server rejected the credentials for ${display}: ${message}.`, {
      hint: 'Check the user and password (PGPASSWORD, DB_PASSWORD or the URL) and the server\'s pg_hba.conf.',
      cause: error,
      postgres: fields,
    });
  }
  if (fields?.sqlstate === '42501') {
    return new OnevaultError('INSUFFICIENT_PRIVILEGE', `The user in ${display} may not connect: ${message}.`, {
      hint: 'GRANT CONNECT ON DATABASE to the user, or connect as a user that has it.',
      cause: error,
      postgres: fields,
    });
  }
  if (/password must be a string|password authentication failed|no password (was )?(supplied|provided)/i.test(message)) {
    return new OnevaultError('AUTHENTICATION_FAILED', `The server at ${display} asks for a password, and none was given.`, {
      hint: 'Put the password in the URL, or set PGPASSWORD or DB_PASSWORD, whichever matches the other settings you use.',
      cause: error,
    });
  }
  if (systemCode === 'ENOTFOUND' || systemCode === 'EAI_AGAIN') {
    return new OnevaultError('CONNECTION_REFUSED', `The host in ${display} cannot be resolved (${systemCode}).`, {
      hint: 'Check the host name for typos. Without any connection settings, onevault uses its embedded server.',
      cause: error,
    });
  }
  if (systemCode === 'ECONNREFUSED' || systemCode === 'EHOSTUNREACH' || systemCode === 'ETIMEDOUT' || /timeout/i.test(message)) {
    return new OnevaultError('CONNECTION_REFUSED', `No PostgreSQL server answered at ${display} (${systemCode ?? message}).`, {
      hint: 'Start the server or fix the host and port. Without any connection settings, onevault uses its embedded server.',
      cause: error,
    });
  }
  return new OnevaultError('CONNECTION_REFUSED', `Connecting to ${display} failed: ${message}.`, {
    hint: 'Check the connection settings and that the server accepts connections.',
    cause: error,
    postgres: fields,
  });
}

/**
 * Opens a session on the target; when the database is missing and `createDatabase` is set, creates
 * it through the server's `postgres` database first. Throws `DATABASE_NOT_FOUND` otherwise.
 */
export async function connectTarget(target: ServerTarget, options: { readonly createDatabase?: boolean } = {}): Promise<Client> {
  try {
    return await connectClient(target.config, target.display);
  } catch (error) {
    if (!(error instanceof OnevaultError) || error.code !== 'DATABASE_NOT_FOUND' || !options.createDatabase) throw error;
  }

  const databaseName = await databaseNameOf(target);
  const admin = await connectClient(withDatabase(target.config, 'postgres'), target.display);
  try {
    await admin.query(`CREATE DATABASE ${quoteIdentifier(databaseName)}`);
  } catch (error) {
    // Another process may have created it in the meantime: duplicate_database, or a unique
    // violation on pg_database when both CREATE DATABASE statements ran at the same moment.
    const sqlstate = postgresFieldsOf(error)?.sqlstate;
    if (sqlstate !== '42P04' && sqlstate !== '23505') {
      throw new OnevaultError('INSUFFICIENT_PRIVILEGE', `Creating database "${databaseName}" failed: ${(error as Error).message}.`, {
        hint: 'Ask a superuser to create it, or grant CREATEDB to the user.',
        cause: error,
        postgres: postgresFieldsOf(error),
      });
    }
  } finally {
    await admin.end().catch(() => undefined);
  }
  return connectClient(target.config, target.display);
}

async function databaseNameOf(target: ServerTarget): Promise<string> {
  if (target.config.database) return target.config.database;
  const { parse } = await import('pg-connection-string');
  const parsed = parse(target.config.connectionString ?? '');
  return parsed.database ?? parsed.user ?? 'postgres';
}

/** Returns a copy of the settings that connect to another database of the same server. */
export function withDatabase(config: ClientConfig, database: string): ClientConfig {
  if (config.connectionString) {
    const url = new URL(config.connectionString);
    url.pathname = `/${encodeURIComponent(database)}`;
    return { ...config, connectionString: url.toString() };
  }
  return { ...config, database };
}

/** Quotes an SQL identifier the way PostgreSQL's quote_ident does. */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

const CONNECTION_FAULT_MESSAGE = /Connection terminated|connection error and is not queryable|Client was closed and is not queryable|read ECONNRESET|write EPIPE/i;
const CONNECTION_FAULT_SYSTEM_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH']);

/**
 * Returns true when an error means that the session is gone: the socket closed or failed, or the
 * server ended the session (SQLSTATE class 08, or 57P01 to 57P03 on shutdown, crash or restart).
 * The server then has rolled back the session's open transaction and released its locks.
 */
export function isConnectionFault(error: unknown): boolean {
  const sqlstate = postgresFieldsOf(error)?.sqlstate;
  if (sqlstate) return sqlstate.startsWith('08') || sqlstate === '57P01' || sqlstate === '57P02' || sqlstate === '57P03';

  if (typeof error !== 'object' || error === null) return false;
  const systemCode = (error as { code?: unknown }).code;
  if (typeof systemCode === 'string' && CONNECTION_FAULT_SYSTEM_CODES.has(systemCode)) return true;
  return error instanceof Error && CONNECTION_FAULT_MESSAGE.test(error.message);
}
