import type { Client, ClientConfig } from 'pg';

import { connectClient, connectTarget, quoteIdentifier, withDatabase } from './connect';
import { startEmbedded, type EmbeddedServer } from './embedded';
import { resolveConnectionTarget, type ConnectionOptions, type ConnectionTarget } from './settings';

export interface SessionOptions extends ConnectionOptions {
  /** Create the target database when it does not exist. The embedded server always does. */
  readonly createDatabase?: boolean;
  /** As root, let the embedded server create the postgres OS user when it is missing. */
  readonly createOsUser?: boolean;
  /** Called with progress of the embedded server (initialising, starting). */
  readonly onProgress?: (message: string) => void;
}

/** An open session on the target database, with what is needed to open more. */
export interface DatabaseSession {
  readonly client: Client;
  readonly target: ConnectionTarget;
  /** Settings that open another session on the same database (to cancel, or for scratch copies). */
  readonly config: ClientConfig;
  /** The target as text for messages, with the password masked. */
  readonly display: string;
}

/**
 * Resolves the connection settings, starts the embedded server when none are given, opens a
 * session on the target database, runs `work`, and always closes the session and stops a server
 * it started, also when `work` throws.
 */
export async function withDatabaseSession<T>(options: SessionOptions, work: (session: DatabaseSession) => Promise<T>): Promise<T> {
  const target = resolveConnectionTarget(options);
  let server: EmbeddedServer | undefined;
  let client: Client | undefined;
  try {
    let config: ClientConfig;
    let display: string;
    if (target.kind === 'embedded') {
      server = await startEmbedded({ dataDir: target.dataDir, createOsUser: options.createOsUser, onProgress: options.onProgress });
      config = withDatabase({ connectionString: server.connectionString }, target.database);
      display = `embedded server in ${target.dataDir}, database ${target.database}`;
      await ensureDatabase(server.connectionString, target.database);
      client = await connectClient(config, display);
    } else {
      config = target.config;
      display = target.display;
      client = await connectTarget(target, { createDatabase: options.createDatabase });
    }
    options.onProgress?.(target.kind === 'embedded' ? `Target: ${display}` : `Target: ${display} (from ${target.source})`);
    return await work({ client, target, config, display });
  } finally {
    await client?.end().catch(() => undefined);
    await server?.stop();
  }
}

/** Creates `database` on the server at `serverUrl` unless it exists; tolerates a concurrent creator. */
export async function ensureDatabase(serverUrl: string, database: string): Promise<void> {
  const admin = await connectClient({ connectionString: serverUrl }, 'embedded server');
  try {
    const exists = await admin.query('SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1', [database]);
    if (exists.rowCount === 0) {
      await admin.query(`CREATE DATABASE ${quoteIdentifier(database)}`).catch((error: { code?: string }) => {
        // Another command may have created it at the same moment.
        if (error.code !== '42P04') throw error;
      });
    }
  } finally {
    await admin.end().catch(() => undefined);
  }
}
