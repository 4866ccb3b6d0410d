import type { Client } from 'pg';

import { deploy } from '../src/apply/deploy';
import type { BenchContext, Benchmark } from './context';
import { makeFigure, type BenchmarkResult } from './figures';
import { elapsedMs, pairwiseRatios } from './statistics';

const CONNECTIONS = 2;
const FULL_CALLS_PER_CONNECTION = 25;
const QUICK_CALLS_PER_CONNECTION = 5;
const PASSWORD = 'correct horse battery staple';

/**
 * Benchmark 5: api.tenant_register calls per second on two connections, against the floor of
 * bcrypt hashing alone (public.crypt with gen_salt('bf', cost) at the cost registration uses) on
 * the same two connections, in alternating phases of every run.
 */
export const registrationBenchmark: Benchmark = {
  id: 'registration',
  title: 'api.tenant_register throughput vs bcrypt alone on 2 connections',
  run: runRegistrationBenchmark,
};

async function runRegistrationBenchmark(context: BenchContext): Promise<BenchmarkResult> {
  const callsPerConnection = context.quick ? QUICK_CALLS_PER_CONNECTION : FULL_CALLS_PER_CONNECTION;
  const database = await context.server.createDatabase('registration');
  const clients: Client[] = [];
  try {
    const cost = await context.server.withClient(database, async (client) => {
      const report = await deploy(client, { migrationsDir: context.migrationsDir });
      if (report.error) throw report.error;
      const present = await client.query<{ present: boolean }>(`SELECT to_regprocedure('api.tenant_register(jsonb)') IS NOT NULL AS present`);
      if (!present.rows[0].present) return undefined;
      return (await client.query<{ cost: number }>('SELECT util.get_password_bcrypt_cost() AS cost')).rows[0].cost;
    });
    if (cost === undefined) {
      return { id: 'registration', title: registrationBenchmark.title, figures: [], notes: [], skipped: 'the migrations define no api.tenant_register(jsonb)' };
    }

    for (let index = 0; index < CONNECTIONS; index += 1) clients.push(await context.server.connect(database));
    // One untimed call per connection warms the plan caches of both phases.
    await runPhase(clients, 1, (client, connection) => registerTenant(client, `Bench Warmup ${process.pid} ${connection}`));
    await runPhase(clients, 1, (client) => hashPassword(client, cost));

    const registrationsPerSecond: number[] = [];
    const hashesPerSecond: number[] = [];
    for (let run = 0; run < context.runs; run += 1) {
      const phases = run % 2 === 0 ? (['register', 'hash'] as const) : (['hash', 'register'] as const);
      for (const phase of phases) {
        if (phase === 'register') {
          const ms = await runPhase(clients, callsPerConnection, (client, connection, call) =>
            registerTenant(client, `Bench Tenant ${process.pid} ${run} ${connection} ${call}`),
          );
          registrationsPerSecond.push((CONNECTIONS * callsPerConnection * 1000) / ms);
        } else {
          const ms = await runPhase(clients, callsPerConnection, (client) => hashPassword(client, cost));
          hashesPerSecond.push((CONNECTIONS * callsPerConnection * 1000) / ms);
        }
      }
      context.log(`registration: run ${run + 1}/${context.runs} done`);
    }

    return {
      id: 'registration',
      title: registrationBenchmark.title,
      figures: [
        makeFigure('registration', `bcrypt alone (cost ${cost}), ${CONNECTIONS} connections`, 'calls/s', hashesPerSecond),
        makeFigure('registration', `api.tenant_register, ${CONNECTIONS} connections`, 'calls/s', registrationsPerSecond),
        makeFigure(
          'registration',
          'tenant_register / bcrypt floor',
          '%',
          pairwiseRatios(registrationsPerSecond, hashesPerSecond).map((ratio) => 100 * ratio),
          { target: { kind: 'at least', value: 80 } },
        ),
      ],
      notes: [
        `Each phase makes ${callsPerConnection} calls on each of ${CONNECTIONS} connections at once; calls per second is all calls divided by the wall time of the phase.`,
        `The floor is SELECT public.crypt(password, public.gen_salt('bf', ${cost})): the hash that every registration computes, at util.get_password_bcrypt_cost().`,
        'Every registration uses a new tenant name and must return success; the sessions connect as the server superuser, which the SECURITY DEFINER function does not need but the benchmark uses for setup.',
      ],
    };
  } finally {
    for (const client of clients) await client.end().catch(() => undefined);
    await context.server.dropDatabase(database);
  }
}

/** Runs `call` `calls` times on every client at once and returns the wall time in ms. */
async function runPhase(clients: readonly Client[], calls: number, call: (client: Client, connection: number, index: number) => Promise<void>): Promise<number> {
  const started = process.hrtime.bigint();
  await Promise.all(
    clients.map(async (client, connection) => {
      for (let index = 0; index < calls; index += 1) await call(client, connection, index);
    }),
  );
  return elapsedMs(started);
}

async function registerTenant(client: Client, tenantName: string): Promise<void> {
  const request = {
    tenant_name: tenantName,
    admin_email: 'admin@example.com',
    admin_password: PASSWORD,
    admin_first_name: 'Ada',
    admin_last_name: 'Lovelace',
  };
  const result = await client.query<{ response: { success?: boolean } }>('SELECT api.tenant_register($1::jsonb) AS response', [JSON.stringify(request)]);
  const response = result.rows[0].response;
  if (response.success !== true) throw new Error(`api.tenant_register rejected ${tenantName}: ${JSON.stringify(response)}`);
}

async function hashPassword(client: Client, cost: number): Promise<void> {
  await client.query(`SELECT public.crypt($1, public.gen_salt('bf', $2::integer))`, [PASSWORD, cost]);
}
