import { Client, type ClientConfig } from 'pg';

/** A lock that a migration's session was seen waiting for, and the sessions it waited behind. */
export interface LockWait {
  /** The table, as `regclass` prints it (`auth.tenant_h`), or null for a lock on no table. */
  readonly relation: string | null;
  /** Lock type from pg_locks, for example `relation`, `transactionid` or `advisory`. */
  readonly lockType: string;
  /** Requested mode, for example `AccessExclusiveLock`. */
  readonly mode: string;
  readonly blockers: readonly LockBlocker[];
}

export interface LockBlocker {
  readonly pid: number;
  readonly applicationName: string;
  readonly user: string;
  /** `active`, `idle in transaction`… from pg_stat_activity. */
  readonly state: string | null;
  /** Modes the blocker holds on the same table, when the wait is for a table. */
  readonly heldModes: readonly string[];
}

export interface LockWaitWatch {
  /** Returns the latest wait seen so far, if any. */
  lastWait(): LockWait | undefined;
  /** Stops sampling, closes the watching session and returns the latest wait seen. */
  stop(): Promise<LockWait | undefined>;
}

const MIN_SAMPLE_INTERVAL_MS = 20;
const MAX_SAMPLE_INTERVAL_MS = 500;

/**
 * Samples, from a second session, which lock the session `pid` is waiting for, so that a lock
 * timeout can name the table and the session in the way. The first sample is taken one interval
 * after the start, and the second session is opened only then, so a quick migration costs no
 * connection. The interval is a quarter of `lockTimeoutMs`, between 20 and 500 ms. Never throws:
 * a failed sample only means the lock timeout message names no table.
 */
export function watchLockWaits(config: ClientConfig, pid: number, lockTimeoutMs: number): LockWaitWatch {
  const intervalMs = Math.min(MAX_SAMPLE_INTERVAL_MS, Math.max(MIN_SAMPLE_INTERVAL_MS, Math.floor(lockTimeoutMs / 4)));
  let client: Client | undefined;
  let connecting: Promise<void> | undefined;
  let lastWait: LockWait | undefined;
  let stopped = false;
  let sampling: Promise<void> = Promise.resolve();

  const sample = async (): Promise<void> => {
    if (!client) {
      const candidate = new Client({ ...config, application_name: 'onevault-lock-watch', connectionTimeoutMillis: 2_000 });
      candidate.on('error', () => undefined);
      connecting = candidate.connect().then(() => undefined);
      await connecting;
      client = candidate;
    }
    if (stopped) return;
    const wait = await readLockWait(client, pid);
    if (wait) lastWait = wait;
  };

  const timer = setInterval(() => {
    if (stopped) return;
    sampling = sampling.then(sample).catch(() => undefined);
  }, intervalMs);

  return {
    lastWait: () => lastWait,
    async stop(): Promise<LockWait | undefined> {
      stopped = true;
      clearInterval(timer);
      await sampling;
      await connecting?.catch(() => undefined);
      await client?.end().catch(() => undefined);
      return lastWait;
    },
  };
}

async function readLockWait(client: Client, pid: number): Promise<LockWait | undefined> {
  // A row lock shows as a wait for the other transaction's id. The waiter already holds the tuple
  // lock, which names the table, so the table is taken from there.
  const waiting = await client.query<{ locktype: string; mode: string; relation: string | null; relation_oid: number | null; blockers: number[] }>(
    `SELECT l.locktype,
            l.mode,
            COALESCE(l.relation, tuple_lock.relation)::pg_catalog.regclass::text AS relation,
            COALESCE(l.relation, tuple_lock.relation)::integer AS relation_oid,
            pg_catalog.pg_blocking_pids($1) AS blockers
     FROM pg_catalog.pg_locks AS l
     LEFT JOIN LATERAL (
       SELECT t.relation
       FROM pg_catalog.pg_locks AS t
       WHERE t.pid = l.pid
         AND t.locktype = 'tuple'
       LIMIT 1
     ) AS tuple_lock ON true
     WHERE l.pid = $1
       AND NOT l.granted
     LIMIT 1`,
    [pid],
  );
  const row = waiting.rows[0];
  if (!row) return undefined;

  const blockers = await client.query<{ pid: number; application_name: string | null; usename: string | null; state: string | null; held_modes: string[] | null }>(
    `SELECT a.pid,
            a.application_name,
            a.usename,
            a.state,
            ARRAY(
              SELECT DISTINCT held.mode
              FROM pg_catalog.pg_locks AS held
              WHERE held.pid = a.pid
                AND held.granted
                AND held.relation = $2::oid
              ORDER BY held.mode
            ) AS held_modes
     FROM pg_catalog.pg_stat_activity AS a
     WHERE a.pid = ANY ($1::integer[])
     ORDER BY a.pid`,
    [row.blockers, row.relation_oid],
  );

  return {
    relation: row.relation,
    lockType: row.locktype,
    mode: row.mode,
    blockers: blockers.rows.map((blocker) => ({
      pid: blocker.pid,
      applicationName: blocker.application_name ?? '',
      user: blocker.usename ?? '',
      state: blocker.state,
      heldModes: blocker.held_modes ?? [],
    })),
  };
}

/** Formats a wait for messages, for example `auth.tenant_h (blocked by session 123, psql, user postgres, idle in transaction, holding AccessExclusiveLock)`. */
export function describeLockWait(wait: LockWait): string {
  const target = wait.relation ?? `a ${wait.lockType} lock`;
  if (wait.blockers.length === 0) return target;
  const holders = wait.blockers.map((blocker) => {
    const parts = [`session ${blocker.pid}`, blocker.applicationName || 'no application name', `user ${blocker.user}`];
    if (blocker.state) parts.push(blocker.state);
    if (blocker.heldModes.length > 0) parts.push(`holding ${blocker.heldModes.join(', ')}`);
    return parts.join(', ');
  });
  return `${target} (blocked by ${holders.join('; ')})`;
}
