import { Client, type ClientConfig } from 'pg';

/** Start of the name of every database the benchmarks create; nothing else on the server is touched. */
export const DATABASE_PREFIX = 'benchw_';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/** Connection facts of the server the benchmarks run on. */
export interface ServerAddress {
  readonly host: string;
  readonly port: number;
  readonly user: string;
}

/**
 * Parses `postgres://user@host:port/` and rejects any host that is not a loopback address, because
 * the benchmarks create, load and drop databases and must never reach another machine.
 */
export function parseServerUrl(url: string): ServerAddress {
  const parsed = new URL(url);
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new Error(`--server-url must be a postgres:// URL, got ${parsed.protocol}`);
  }
  if (!LOOPBACK_HOSTS.has(parsed.hostname)) {
    throw new Error(`--server-url must name a loopback host (127.0.0.1, localhost or ::1), got ${parsed.hostname}`);
  }
  return { host: parsed.hostname, port: Number(parsed.port || 5432), user: decodeURIComponent(parsed.username || 'postgres') };
}

/** Creates, copies and drops the `benchw_*` databases of one benchmark run, and drops them all at the end. */
export class BenchServer {
  private readonly created = new Set<string>();
  private counter = 0;

  constructor(readonly address: ServerAddress) {}

  /** node-postgres settings for a database of this server. */
  configFor(database: string): ClientConfig {
    return { host: this.address.host, port: this.address.port, user: this.address.user, database, application_name: 'onevault-bench' };
  }

  /** URL of a database of this server, for the CLI's `--database-url`. */
  urlFor(database: string): string {
    return `postgres://${encodeURIComponent(this.address.user)}@${this.address.host}:${this.address.port}/${encodeURIComponent(database)}`;
  }

  /** Returns a fresh name `benchw_<purpose>_<pid>_<n>` that no other run uses. */
  nameFor(purpose: string): string {
    this.counter += 1;
    return `${DATABASE_PREFIX}${purpose}_${process.pid}_${this.counter}`;
  }

  /**
   * Creates a database, empty (from template0) or as a copy of `template`. FILE_COPY copies the
   * files directly, which is much faster than the WAL_LOG default for a large template.
   */
  async createDatabase(purpose: string, template?: string): Promise<string> {
    const name = this.nameFor(purpose);
    const source = template === undefined ? 'TEMPLATE template0' : `TEMPLATE ${quote(template)} STRATEGY FILE_COPY`;
    await this.adminQuery(`CREATE DATABASE ${quote(name)} ${source}`);
    this.created.add(name);
    return name;
  }

  /** Records a database created by other means (a template kept between runs) so that `dropAll` drops it. */
  adopt(name: string): void {
    assertBenchName(name);
    this.created.add(name);
  }

  /** Forgets a database so that `dropAll` keeps it. */
  release(name: string): void {
    this.created.delete(name);
  }

  async dropDatabase(name: string): Promise<void> {
    assertBenchName(name);
    await this.adminQuery(`DROP DATABASE IF EXISTS ${quote(name)} WITH (FORCE)`);
    this.created.delete(name);
  }

  /** Drops every database this object created and has not dropped or released yet. */
  async dropAll(): Promise<void> {
    for (const name of [...this.created]) await this.dropDatabase(name);
  }

  async connect(database: string): Promise<Client> {
    const client = new Client(this.configFor(database));
    client.on('error', () => undefined);
    await client.connect();
    return client;
  }

  /** Runs statements on the server's `postgres` database, which the benchmarks never change. */
  async adminQuery<T extends Record<string, unknown> = Record<string, unknown>>(sql: string, values: unknown[] = []): Promise<T[]> {
    const client = await this.connect('postgres');
    try {
      return (await client.query<T>(sql, values)).rows;
    } finally {
      await client.end();
    }
  }

  /** Opens a session on `database`, runs `work` and closes the session. */
  async withClient<T>(database: string, work: (client: Client) => Promise<T>): Promise<T> {
    const client = await this.connect(database);
    try {
      return await work(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}

function quote(identifier: string): string {
  return `"${identifier.replace(/"/g, '""')}"`;
}

function assertBenchName(name: string): void {
  if (!name.startsWith(DATABASE_PREFIX)) throw new Error(`refusing to touch database ${name}: benchmark databases start with ${DATABASE_PREFIX}`);
}
