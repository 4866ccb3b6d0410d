import { parse as parseConnectionString } from 'pg-connection-string';
import type { ClientConfig } from 'pg';
import * as path from 'node:path';

import { OnevaultError } from '../errors';

/** Database name used when the package's `DB_*` variables give none, and inside the embedded server. */
export const DEFAULT_DATABASE_NAME = 'one_vault';

/** Folder of the embedded server, relative to the working directory, when no `--data-dir` is given. */
export const DEFAULT_EMBEDDED_DIR = '.onevault';

export interface ConnectionOptions {
  /** Value of `--database-url`. */
  readonly databaseUrl?: string;
  /** Value of `--data-dir`: the embedded server's folder. */
  readonly dataDir?: string;
  /** Environment to read; the process environment when absent. */
  readonly env?: NodeJS.ProcessEnv;
}

/** Source of the connection settings, listed in the order they are tried. */
export type SettingsSource = '--database-url' | 'DATABASE_URL' | 'PG* variables' | 'DB_* variables';

export interface ServerTarget {
  readonly kind: 'server';
  readonly source: SettingsSource;
  readonly config: ClientConfig;
  /** The settings as text for messages, with the password masked. */
  readonly display: string;
}

export interface EmbeddedTarget {
  readonly kind: 'embedded';
  readonly dataDir: string;
  readonly database: string;
}

export type ConnectionTarget = ServerTarget | EmbeddedTarget;

/** sslmode values that libpq and node-postgres accept in a URL. */
const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full', 'no-verify'];

const LIBPQ_VARIABLES = ['PGHOST', 'PGPORT', 'PGDATABASE', 'PGUSER', 'PGPASSWORD'] as const;
const PACKAGE_VARIABLES = ['DB_HOST', 'DB_PORT', 'DB_NAME', 'DB_USER', 'DB_PASSWORD'] as const;

/**
 * Resolves the connection settings, first match wins: `--database-url`, `DATABASE_URL`, libpq's
 * `PG*` variables, the package's `DB_*` variables, and with none of them the embedded server.
 * Throws `INVALID_CONFIGURATION` for a URL or port that cannot be used.
 */
export function resolveConnectionTarget(options: ConnectionOptions = {}): ConnectionTarget {
  const env = options.env ?? process.env;

  if (options.databaseUrl !== undefined && options.databaseUrl.trim() === '') {
    throw new OnevaultError('INVALID_CONFIGURATION', '--database-url was given an empty value.', {
      hint: 'Give a URL such as postgres://USER@HOST:5432/DATABASE, or leave the option out to use DATABASE_URL, the PG* or DB_* variables, or the embedded server.',
    });
  }
  if (hasValue(options.databaseUrl)) {
    return targetFromUrl(options.databaseUrl, '--database-url');
  }
  if (hasValue(env.DATABASE_URL)) {
    return targetFromUrl(env.DATABASE_URL, 'DATABASE_URL');
  }
  if (LIBPQ_VARIABLES.some((name) => hasValue(env[name]))) {
    return targetFromParts('PG* variables', {
      host: env.PGHOST,
      port: env.PGPORT,
      portVariable: 'PGPORT',
      database: env.PGDATABASE,
      user: env.PGUSER,
      password: env.PGPASSWORD,
    });
  }
  if (PACKAGE_VARIABLES.some((name) => hasValue(env[name]))) {
    return targetFromParts('DB_* variables', {
      host: env.DB_HOST,
      port: env.DB_PORT,
      portVariable: 'DB_PORT',
      database: env.DB_NAME ?? DEFAULT_DATABASE_NAME,
      user: env.DB_USER,
      password: env.DB_PASSWORD,
    });
  }

  return {
    kind: 'embedded',
    dataDir: path.resolve(options.dataDir ?? DEFAULT_EMBEDDED_DIR),
    database: DEFAULT_DATABASE_NAME,
  };
}

function hasValue(value: string | undefined): value is string {
  return value !== undefined && value.trim() !== '';
}

function targetFromUrl(url: string, source: SettingsSource): ServerTarget {
  const trimmed = url.trim();
  if (!/^postgres(ql)?:\/\//i.test(trimmed) && !trimmed.startsWith('socket:')) {
    throw new OnevaultError('INVALID_CONFIGURATION', `${source} is not a PostgreSQL URL: "${maskUrl(trimmed)}".`, {
      hint: 'Use the form postgres://USER:PASSWORD@HOST:PORT/DATABASE.',
    });
  }

  let parsed: ReturnType<typeof parseConnectionString>;
  try {
    parsed = parseConnectionString(trimmed);
  } catch (error) {
    throw new OnevaultError('INVALID_CONFIGURATION', `${source} cannot be parsed: "${maskUrl(trimmed)}".`, {
      hint: 'Use the form postgres://USER:PASSWORD@HOST:PORT/DATABASE, with special characters percent-encoded.',
      cause: error,
    });
  }
  const sslmode = new URLSearchParams(trimmed.split('?')[1] ?? '').get('sslmode');
  if (sslmode !== null && !SSL_MODES.includes(sslmode)) {
    throw new OnevaultError('INVALID_CONFIGURATION', `${source} has an invalid sslmode "${sslmode}".`, {
      hint: `Use one of ${SSL_MODES.join(', ')}.`,
    });
  }
  if (parsed.port !== undefined && parsed.port !== null && parsed.port !== '' && !isValidPort(String(parsed.port))) {
    throw new OnevaultError('INVALID_CONFIGURATION', `${source} has an invalid port "${parsed.port}".`, {
      hint: 'Give a port between 1 and 65535.',
    });
  }

  return {
    kind: 'server',
    source,
    config: { connectionString: trimmed },
    display: maskUrl(trimmed),
  };
}

interface ConnectionParts {
  readonly host?: string;
  readonly port?: string;
  readonly portVariable: string;
  readonly database?: string;
  readonly user?: string;
  readonly password?: string;
}

function targetFromParts(source: SettingsSource, parts: ConnectionParts): ServerTarget {
  if (hasValue(parts.port) && !isValidPort(parts.port)) {
    throw new OnevaultError('INVALID_CONFIGURATION', `${parts.portVariable} is "${parts.port}", which is not a port number.`, {
      hint: `Set ${parts.portVariable} to a number between 1 and 65535, or unset it to use 5432.`,
    });
  }

  const host = hasValue(parts.host) ? parts.host : '127.0.0.1';
  const port = hasValue(parts.port) ? Number(parts.port) : 5432;
  const user = hasValue(parts.user) ? parts.user : 'postgres';
  const database = hasValue(parts.database) ? parts.database : user;

  return {
    kind: 'server',
    source,
    config: { host, port, user, database, password: parts.password },
    display: `postgres://${encodeURIComponent(user)}${parts.password ? ':****' : ''}@${host}:${port}/${encodeURIComponent(database)}`,
  };
}

function isValidPort(value: string): boolean {
  if (!/^\d+$/.test(value.trim())) return false;
  const port = Number(value);
  return port >= 1 && port <= 65535;
}

/** Replaces the password of a connection URL with `****`, for messages and logs. */
export function maskUrl(url: string): string {
  return url
    .replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]+:)[^@]*@/i, '$1****@')
    .replace(/([?&](?:password|sslpassword)=)[^&#]*/gi, '$1****');
}
