import { Client, type ClientConfig } from 'pg';

/**
 * Asks the server to cancel the statement that session `pid` is running, from a separate session.
 * Resolves to false when the cancel could not be sent; a cancel is best effort by nature.
 */
export async function cancelBackend(config: ClientConfig, pid: number): Promise<boolean> {
  const client = new Client({ ...config, application_name: 'onevault-cancel', connectionTimeoutMillis: 5_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const result = await client.query<{ cancelled: boolean }>('SELECT pg_cancel_backend($1) AS cancelled', [pid]);
    return result.rows[0]?.cancelled === true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}
