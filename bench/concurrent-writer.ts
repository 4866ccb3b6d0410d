import type { Client } from 'pg';

import { elapsedMs } from './statistics';

/** One writer transaction: when it started and how long it took, in ms since the writer started. */
export interface WriteSample {
  readonly startMs: number;
  readonly endMs: number;
}

/**
 * Writes new versions of generated tenants' profiles into auth.tenant_profile_s in a loop, one
 * short transaction at a time (close the current version, insert the next), and records how long
 * each transaction took. A transaction that waits for a lock shows as one long sample.
 */
export class ConcurrentWriter {
  private readonly samples: WriteSample[] = [];
  private readonly started = process.hrtime.bigint();
  private stopping = false;
  private loop: Promise<void> | undefined;
  private failure: unknown;

  constructor(
    private readonly client: Client,
    private readonly tenantCount: number,
  ) {}

  /** Milliseconds since the writer was created, on the same clock as the samples. */
  now(): number {
    return elapsedMs(this.started);
  }

  start(): void {
    this.loop = this.writeUntilStopped().catch((error: unknown) => {
      this.failure = error;
    });
  }

  /** Stops after the running transaction and returns every sample; throws if a write failed. */
  async stop(): Promise<readonly WriteSample[]> {
    this.stopping = true;
    await this.loop;
    if (this.failure !== undefined) throw this.failure;
    return this.samples;
  }

  private async writeUntilStopped(): Promise<void> {
    let tenant = 0;
    while (!this.stopping) {
      tenant = (tenant % this.tenantCount) + 1;
      const startMs = this.now();
      await this.client.query(newProfileVersionSql(tenant));
      this.samples.push({ startMs, endMs: this.now() });
    }
  }
}

// One simple-protocol query with its own BEGIN and COMMIT, so that the transaction costs one round
// trip. The tenant number is an integer the writer generated, never outside input.
function newProfileVersionSql(tenant: number): string {
  return `
BEGIN;
WITH closed AS (
    UPDATE auth.tenant_profile_s
    SET load_end_date = clock_timestamp()
    WHERE tenant_hk = util.hash_binary('BENCH_TENANT_${tenant}')
      AND load_end_date IS NULL
    RETURNING *
)
INSERT INTO auth.tenant_profile_s (
    tenant_hk, load_date, load_end_date, hash_diff, tenant_name, tenant_type, tenant_status,
    max_users, compliance_frameworks, contact_email, is_active, record_source
)
SELECT tenant_hk, load_end_date, NULL, hash_diff, tenant_name, tenant_type, tenant_status,
       max_users, compliance_frameworks, contact_email, is_active, 'onevault-bench-writer'
FROM closed;
COMMIT;`;
}

/** Maximum duration of the transactions that overlapped the window [fromMs, toMs], in ms; 0 when none did. */
export function longestWriteDuring(samples: readonly WriteSample[], fromMs: number, toMs: number): number {
  return samples
    .filter((sample) => sample.endMs >= fromMs && sample.startMs <= toMs)
    .reduce((longest, sample) => Math.max(longest, sample.endMs - sample.startMs), 0);
}

/** Number of transactions that finished inside the window [fromMs, toMs]. */
export function writesFinishedDuring(samples: readonly WriteSample[], fromMs: number, toMs: number): number {
  return samples.filter((sample) => sample.endMs >= fromMs && sample.endMs <= toMs).length;
}
