import { Client } from 'pg';

/** Prefix of the databases that `withFreshDatabase` creates; set TEST_DATABASE_PREFIX to change it. */
const DEFAULT_DATABASE_PREFIX = 'onevault_test_';

let databaseCounter = 0;

/**
 * Returns the URL of the server the tests run against, from DATABASE_URL.
 * Throws when DATABASE_URL is unset, so that a missing server fails the run instead of skipping it.
 */
export function adminUrl(): string {
  const url = process.env.DATABASE_URL;
  if (url === undefined || url.trim() === '') {
    throw new Error(
      'DATABASE_URL is not set. Set it to a PostgreSQL server the tests may create databases on, ' +
        'for example DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres',
    );
  }
  return url;
}

/** Returns `url` with the database name replaced by `database`. */
export function databaseUrl(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

/**
 * Creates a uniquely named database on the DATABASE_URL server, runs `fn` with a client connected
 * to it and its URL, and drops the database afterwards (`WITH (FORCE)`), also when `fn` throws.
 * The name starts with TEST_DATABASE_PREFIX (default `onevault_test_`).
 */
export async function withFreshDatabase(fn: (client: Client, url: string) => Promise<void>): Promise<void> {
  const server = adminUrl();
  const database = uniqueDatabaseName();

  await runAdminStatement(server, `CREATE DATABASE ${quoteIdentifier(database)}`);
  try {
    const url = databaseUrl(server, database);
    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      await fn(client, url);
    } finally {
      await client.end();
    }
  } finally {
    await runAdminStatement(server, `DROP DATABASE IF EXISTS ${quoteIdentifier(database)} WITH (FORCE)`);
  }
}

function uniqueDatabaseName(): string {
  const prefix = process.env.TEST_DATABASE_PREFIX ?? DEFAULT_DATABASE_PREFIX;
  databaseCounter += 1;
  return `${prefix}${process.pid}_${Date.now().toString(36)}_${databaseCounter}`.toLowerCase().slice(0, 63);
}

async function runAdminStatement(server: string, sql: string): Promise<void> {
  const admin = new Client({ connectionString: server });
  try {
    await admin.connect();
  } catch (error) {
    throw new Error(
      `Cannot connect to the PostgreSQL server in DATABASE_URL (${redactedUrl(server)}): ` +
        `${(error as Error).message}. Start the server or correct DATABASE_URL.`,
      { cause: error },
    );
  }

  try {
    await admin.query(sql);
  } finally {
    await admin.end();
  }
}

function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}
