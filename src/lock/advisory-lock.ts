import type { ClientBase } from 'pg';

import { OnevaultError } from '../errors';

/**
 * Key of the session-level advisory lock that deploy, rollback and repair hold: the ASCII bytes of
 * "onevault" read as a signed 64-bit integer. In pg_locks it shows as classid 1869505910,
 * objid 1635085428, objsubid 1. Advisory locks are per database, so deployments to different
 * databases of one server do not wait for each other.
 */
export const DEPLOY_LOCK_KEY = '8029466744763804788';
const LOCK_CLASS_ID = 1869505910;
const LOCK_OBJECT_ID = 1635085428;

/** Default of `--lock-timeout`: how long a second process waits for the deploy lock. */
export const DEFAULT_LOCK_WAIT_MS = 60_000;
const LOCK_POLL_INTERVAL_MS = 250;

export interface LockHolder {
  readonly pid: number;
  readonly applicationName: string;
  readonly user: string;
  readonly clientAddress: string | null;
  readonly since: Date | null;
}

export interface AcquireLockOptions {
  readonly waitMs?: number;
  /** Called once when the lock is taken by another session, with that session. */
  readonly onWait?: (holder: LockHolder | undefined) => void;
  readonly signal?: AbortSignal;
}

/**
 * Takes the deploy lock on the client's session, polling with `pg_try_advisory_lock` so that a
 * waiting process holds no snapshot or transaction open (a blocked `pg_advisory_lock` call would,
 * and would stall a `CREATE INDEX CONCURRENTLY` run by the holder). Throws `LOCK_TIMEOUT` when the
 * wait runs out. The server releases the lock itself if the session ends.
 */
export async function acquireDeployLock(client: ClientBase, options: AcquireLockOptions = {}): Promise<void> {
  const waitMs = options.waitMs ?? DEFAULT_LOCK_WAIT_MS;
  const deadline = Date.now() + waitMs;
  let announced = false;

  for (;;) {
    const result = await client.query<{ acquired: boolean }>(`SELECT pg_try_advisory_lock(${DEPLOY_LOCK_KEY}::bigint) AS acquired`);
    if (result.rows[0].acquired) return;

    const holder = await findDeployLockHolder(client);
    if (!announced) {
      options.onWait?.(holder);
      announced = true;
    }
    if (options.signal?.aborted) {
      throw new OnevaultError('INTERRUPTED', 'Interrupted while waiting for the deploy lock.');
    }
    if (Date.now() >= deadline) {
      throw new OnevaultError('LOCK_TIMEOUT', `The deploy lock is still held by ${describeLockHolder(holder)} after ${Math.round(waitMs / 1000)} s.`, {
        hint: 'Wait for that deployment to finish and run the command again, or raise --lock-timeout.',
      });
    }
    await sleep(Math.min(LOCK_POLL_INTERVAL_MS, Math.max(0, deadline - Date.now())));
  }
}

/** Releases the deploy lock if this session holds it. A failed unlock is ignored, because a lost session has released it already. */
export async function releaseDeployLock(client: ClientBase): Promise<void> {
  await client.query(`SELECT pg_advisory_unlock(${DEPLOY_LOCK_KEY}::bigint)`).catch(() => undefined);
}

/** Returns the session that holds the deploy lock in the client's database, if any. */
export async function findDeployLockHolder(client: ClientBase): Promise<LockHolder | undefined> {
  const result = await client.query(
    `SELECT a.pid, a.application_name, a.usename, a.client_addr::text AS client_addr, a.backend_start
     FROM pg_catalog.pg_locks AS l
     JOIN pg_catalog.pg_stat_activity AS a ON a.pid = l.pid
     WHERE l.locktype = 'advisory'
       AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
       AND l.classid = $1::oid
       AND l.objid = $2::oid
       AND l.objsubid = 1
       AND l.granted
     LIMIT 1`,
    [LOCK_CLASS_ID, LOCK_OBJECT_ID],
  );
  const row = result.rows[0];
  if (!row) return undefined;
  return {
    pid: row.pid,
    applicationName: row.application_name ?? '',
    user: row.usename ?? '',
    clientAddress: row.client_addr,
    since: row.backend_start,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Describes the session that holds the deploy lock for messages: `session 4711 (onevault, user postgres)`. */
export function describeLockHolder(holder: LockHolder | undefined): string {
  if (!holder) return 'another session';
  return `session ${holder.pid} (${holder.applicationName || 'no application name'}, user ${holder.user})`;
}
