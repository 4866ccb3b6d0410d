import { Client } from 'pg';

import { deploy } from '../../src/apply/deploy';
import { adminUrl, databaseUrl } from '../helpers/database';
import { MIGRATIONS_DIR } from '../helpers/cli';

/** Prefix of every database these tests create; set TEST_DATABASE_PREFIX to change it. */
export const TEST_PREFIX = process.env.TEST_DATABASE_PREFIX ?? 'onevault_test_';

let counter = 0;

/** Returns a new database name that starts with TEST_PREFIX and names the test file's label. */
export function uniqueDatabaseName(label: string): string {
  counter += 1;
  return `${TEST_PREFIX}${label}_${process.pid}_${counter}`.toLowerCase().slice(0, 63);
}

/** Runs one statement on the server's maintenance database named by DATABASE_URL. */
export async function runAdmin<T = unknown>(sql: string, values: unknown[] = []): Promise<T[]> {
  const admin = new Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    return (await admin.query(sql, values)).rows as T[];
  } finally {
    await admin.end();
  }
}

/** Lists databases whose names start with `prefix`. */
export async function databasesStartingWith(prefix: string): Promise<string[]> {
  const rows = await runAdmin<{ datname: string }>(`SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY 1`, [prefix]);
  return rows.map((row) => row.datname);
}

/**
 * A database with every migration deployed, made once per test file and copied with
 * CREATE DATABASE ... TEMPLATE for each test, which is much faster than deploying each time.
 */
export class DeployedTemplate {
  private constructor(readonly name: string) {}

  /** Creates the template database and deploys the migrations of `migrationsDir` (the repository's by default) into it. */
  static async create(label: string, migrationsDir: string = MIGRATIONS_DIR): Promise<DeployedTemplate> {
    const name = uniqueDatabaseName(`${label}_tpl`);
    await runAdmin(`CREATE DATABASE "${name}"`);
    const template = new DeployedTemplate(name);
    try {
      const client = new Client({ connectionString: databaseUrl(adminUrl(), name) });
      await client.connect();
      try {
        const report = await deploy(client, { migrationsDir });
        if (report.error) throw report.error;
      } finally {
        await client.end();
      }
    } catch (error) {
      await template.drop();
      throw error;
    }
    return template;
  }

  /**
   * Copies the template into a new database, runs `fn` with a client on the copy and its URL, and
   * drops the copy afterwards, also when `fn` throws.
   */
  async withCopy(label: string, fn: (client: Client, url: string, database: string) => Promise<void>): Promise<void> {
    const database = uniqueDatabaseName(label);
    await runAdmin(`CREATE DATABASE "${database}" TEMPLATE "${this.name}"`);
    try {
      const url = databaseUrl(adminUrl(), database);
      const client = new Client({ connectionString: url });
      client.on('error', () => undefined);
      await client.connect();
      try {
        await fn(client, url, database);
      } finally {
        await client.end();
      }
    } finally {
      await runAdmin(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    }
  }

  /**
   * Copies the template, lets `breakIt` damage the copy through a session that is closed before
   * `check` runs (so that the copy has no sessions, as CREATE DATABASE ... TEMPLATE requires),
   * then asserts that `check` left no scratch copy of it behind, also when `check` throws.
   */
  async withBrokenCopy(label: string, breakIt: (client: Client, url: string) => Promise<void>, check: (url: string, database: string) => Promise<void>): Promise<void> {
    await this.withCopy(label, async (client, url, database) => {
      await breakIt(client, url);
      await client.end();

      let failure: unknown;
      try {
        await check(url, database);
      } catch (error) {
        failure = error;
      }
      const leftovers = await databasesStartingWith(`${database}_scratch_`);
      if (leftovers.length > 0) {
        for (const leftover of leftovers) await runAdmin(`DROP DATABASE IF EXISTS "${leftover}" WITH (FORCE)`);
      }
      if (failure !== undefined) throw failure;
      if (leftovers.length > 0) throw new Error(`scratch copies left behind: ${leftovers.join(', ')}`);
    });
  }

  async drop(): Promise<void> {
    await runAdmin(`DROP DATABASE IF EXISTS "${this.name}" WITH (FORCE)`);
  }
}

/** Opens another session on `url`, for tests that need a second connection (locks, idle transactions). */
export async function openSession(url: string): Promise<Client> {
  const client = new Client({ connectionString: url, application_name: 'onevault-test-other-session' });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}
