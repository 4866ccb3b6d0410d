import type { ClientConfig } from 'pg';
import { parse as parseConnectionString } from 'pg-connection-string';

/**
 * Translates node-postgres connection settings into libpq's `PG*` environment variables, so that
 * pg_dump, pg_restore and psql reach the same database without a password on their command line,
 * where other users of the machine could read it in the process list.
 */
export function libpqEnvironmentOf(config: ClientConfig): Record<string, string> {
  const parsed = config.connectionString ? parseConnectionString(config.connectionString) : undefined;
  const host = parsed?.host ?? config.host;
  const port = parsed?.port ?? config.port;
  const user = parsed?.user ?? config.user;
  const password = parsed?.password ?? (typeof config.password === 'string' ? config.password : undefined);
  const database = parsed?.database ?? config.database;

  const environment: Record<string, string> = {};
  if (host) environment.PGHOST = host;
  if (port !== undefined && port !== null && String(port) !== '') environment.PGPORT = String(port);
  if (user) environment.PGUSER = user;
  if (password) environment.PGPASSWORD = password;
  if (database) environment.PGDATABASE = database;

  const sslMode = (parsed as { sslmode?: string } | undefined)?.sslmode;
  if (sslMode) environment.PGSSLMODE = sslMode;
  return environment;
}

/**
 * Returns the process environment without the libpq variables that would override or add to
 * `libpqEnvironmentOf` (a stray PGSERVICE or PGOPTIONS, for example), plus those variables.
 */
export function childEnvironmentFor(config: ClientConfig): NodeJS.ProcessEnv {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('PG')));
  return { ...inherited, ...libpqEnvironmentOf(config), PGCONNECT_TIMEOUT: '10' };
}
