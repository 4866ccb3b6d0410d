import assert from 'node:assert/strict';
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import { Client } from 'pg';

import {
  getEmbeddedStatus,
  startEmbedded,
  startEmbeddedDetached,
  stopEmbedded,
} from '../../src/connection/embedded';
import { ensureLibrarySymlinks, ensurePostgresBinaries, findPackagedNativeDir } from '../../src/connection/embedded-binaries';
import { isRunningAsRoot, lookupOsUser } from '../../src/connection/embedded-os-user';
import { isProcessAlive, runProgram } from '../../src/connection/embedded-process';
import { withDatabaseSession } from '../../src/connection/session';
import { OnevaultError } from '../../src/errors';

const EMBEDDED_MODULE = path.resolve(__dirname, '../../src/connection/embedded.js');
const CHILD_READY_TIMEOUT_MS = 20_000;

const temporaryDirs: string[] = [];
const children: ChildProcess[] = [];

/** Creates a data folder that the postgres OS user can enter, so that the cluster stays inside it. */
function makeDataDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'onevault-embedded-test-'));
  temporaryDirs.push(dir);
  fs.chmodSync(dir, 0o755);
  return dir;
}

after(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  for (const dir of temporaryDirs) {
    // stopEmbedded also stops an orphan left by a killed child.
    await stopEmbedded({ dataDir: dir }).catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

async function query<T = Record<string, unknown>>(connectionString: string, sql: string, values: unknown[] = []): Promise<T[]> {
  const client = new Client({ connectionString });
  await client.connect();
  try {
    return (await client.query(sql, values)).rows as T[];
  } finally {
    await client.end();
  }
}

function readCredentials(dataDir: string): { password: string; port: number } {
  return JSON.parse(fs.readFileSync(path.join(dataDir, 'credentials.json'), 'utf8')) as { password: string; port: number };
}

interface ChildServer {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly port: number;
}

/**
 * Runs `body` in a separate Node.js process, where `embedded` is the compiled module and `dataDir`
 * the folder, and waits for the first line it prints, which must be JSON.
 */
function runChild(dataDir: string, body: string): Promise<{ readonly child: ChildProcess; readonly report: Record<string, unknown> }> {
  const script = `const embedded = require(${JSON.stringify(EMBEDDED_MODULE)}); const dataDir = process.argv[1];\n${body}`;
  const child = spawn(process.execPath, ['-e', script, dataDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);

  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`child printed no line within ${CHILD_READY_TIMEOUT_MS} ms`)), CHILD_READY_TIMEOUT_MS);
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      if (!output.includes('\n')) return;
      clearTimeout(timer);
      resolve({ child, report: JSON.parse(output.slice(0, output.indexOf('\n'))) as Record<string, unknown> });
    });
  });
}

/** Starts a command-scoped server in a separate Node.js process that keeps it until killed. */
async function startServerInChild(dataDir: string): Promise<ChildServer> {
  const { child, report } = await runChild(
    dataDir,
    `embedded.startEmbedded({ dataDir }).then(
      (server) => { console.log(JSON.stringify({ pid: server.pid, port: server.port })); setInterval(() => {}, 1000); },
      (error) => { console.log(JSON.stringify({ message: error.message })); process.exitCode = 1; },
    );`,
  );
  if (typeof report.pid !== 'number' || typeof report.port !== 'number') throw new Error(`child failed to start a server: ${String(report.message)}`);
  return { child, pid: report.pid, port: report.port };
}

function waitForExit(child: ChildProcess): Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

async function killAndWait(child: ChildProcess): Promise<void> {
  const exited = waitForExit(child);
  child.kill('SIGKILL');
  await exited;
}

async function waitUntilDead(pid: number, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isProcessAlive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

/** Recreates a folder tree with hard links to its files: a cheap copy for a test that never writes to the files. */
function linkTree(source: string, target: string): void {
  fs.mkdirSync(target);
  for (const entry of fs.readdirSync(source, { withFileTypes: true })) {
    const from = path.join(source, entry.name);
    const to = path.join(target, entry.name);
    if (entry.isDirectory()) linkTree(from, to);
    else if (entry.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(from), to);
    else fs.linkSync(from, to);
  }
}

describe('embedded PostgreSQL', () => {
  test('first start initialises the cluster and answers queries', async () => {
    const dataDir = makeDataDir();
    const progress: string[] = [];

    const server = await startEmbedded({ dataDir, onProgress: (message) => progress.push(message) });
    try {
      assert.equal(server.startedByUs, true);
      assert.equal(server.dataDir, dataDir);
      assert.equal(server.clusterDir, path.join(dataDir, 'data'));
      assert.equal(server.logFile, path.join(dataDir, 'server.log'));
      assert.equal(fs.existsSync(path.join(dataDir, 'cluster-location')), false);
      assert.equal(fs.statSync(dataDir).mode & 0o777, 0o755);
      assert.match(server.connectionString, /^postgres:\/\/postgres:[^@]+@127\.0\.0\.1:\d+\/postgres$/);
      assert.ok(progress.some((message) => message.includes('Initialising')), progress.join('\n'));

      const rows = await query<{ answer: number }>(server.connectionString, 'SELECT 1 + 1 AS answer');
      assert.equal(rows[0]?.answer, 2);

      const status = await getEmbeddedStatus({ dataDir });
      assert.equal(status.initialised, true);
      assert.equal(status.running, true);
      assert.equal(status.mode, 'command');
      assert.equal(status.pid, server.pid);
      assert.equal(status.clusterDir, path.join(dataDir, 'data'));
    } finally {
      await server.stop();
    }

    assert.equal(isProcessAlive(server.pid), false);
    assert.equal((await getEmbeddedStatus({ dataDir })).running, false);
    assert.equal(fs.existsSync(path.join(dataDir, 'server.lock')), false);
  });

  test('password is random and port is not 5432', async () => {
    const firstDir = makeDataDir();
    const secondDir = makeDataDir();

    const first = await startEmbedded({ dataDir: firstDir });
    const second = await startEmbedded({ dataDir: secondDir });
    try {
      const firstCredentials = readCredentials(firstDir);
      const secondCredentials = readCredentials(secondDir);
      assert.notEqual(firstCredentials.password, secondCredentials.password);
      assert.ok(firstCredentials.password.length >= 32);
      assert.notEqual(first.port, 5432);
      assert.notEqual(second.port, 5432);
      assert.notEqual(first.port, second.port);
      assert.equal(fs.statSync(path.join(firstDir, 'credentials.json')).mode & 0o777, 0o600);

      const wrongPassword = first.connectionString.replace(firstCredentials.password, 'password');
      await assert.rejects(query(wrongPassword, 'SELECT 1'), /password authentication failed/);
    } finally {
      await first.stop();
      await second.stop();
    }
  });

  test('second start reuses the data', async () => {
    const dataDir = makeDataDir();
    const first = await startEmbedded({ dataDir });
    await query(first.connectionString, 'CREATE TABLE kept (value text); INSERT INTO kept VALUES ($$still here$$)');
    await first.stop();

    const progress: string[] = [];
    const startedAt = Date.now();
    const second = await startEmbedded({ dataDir, onProgress: (message) => progress.push(message) });
    const warmStartMs = Date.now() - startedAt;
    try {
      assert.equal(second.connectionString, first.connectionString);
      assert.ok(!progress.some((message) => message.includes('Initialising')), progress.join('\n'));
      const rows = await query<{ value: string }>(second.connectionString, 'SELECT value FROM kept');
      assert.deepEqual(rows, [{ value: 'still here' }]);
      assert.ok(warmStartMs < 5000, `warm start took ${warmStartMs} ms`);
    } finally {
      await second.stop();
    }
  });

  test('taken port is replaced by a free one', async () => {
    const dataDir = makeDataDir();
    const first = await startEmbedded({ dataDir });
    await first.stop();

    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen({ host: '127.0.0.1', port: first.port }, resolve));
    try {
      const second = await startEmbedded({ dataDir });
      try {
        assert.notEqual(second.port, first.port);
        assert.equal(readCredentials(dataDir).port, second.port);
        await query(second.connectionString, 'SELECT 1');
      } finally {
        await second.stop();
      }
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });

  test('server supports templates, sessions, advisory locks and Debian clients', async () => {
    const dataDir = makeDataDir();
    const server = await startEmbedded({ dataDir });
    try {
      await query(server.connectionString, 'CREATE DATABASE template_source');
      await query(server.connectionString.replace(/\/postgres$/, '/template_source'), 'CREATE TABLE copied (id int)');
      await query(server.connectionString, 'CREATE DATABASE template_copy TEMPLATE template_source');
      const copied = await query(server.connectionString.replace(/\/postgres$/, '/template_copy'), "SELECT to_regclass('copied') IS NOT NULL AS present");
      assert.deepEqual(copied, [{ present: true }]);

      const holder = new Client({ connectionString: server.connectionString });
      const contender = new Client({ connectionString: server.connectionString });
      await holder.connect();
      await contender.connect();
      try {
        assert.deepEqual((await holder.query('SELECT pg_try_advisory_lock(42) AS locked')).rows, [{ locked: true }]);
        assert.deepEqual((await contender.query('SELECT pg_try_advisory_lock(42) AS locked')).rows, [{ locked: false }]);
        await holder.query('SELECT pg_advisory_unlock(42)');
        assert.deepEqual((await contender.query('SELECT pg_try_advisory_lock(42) AS locked')).rows, [{ locked: true }]);
      } finally {
        await holder.end();
        await contender.end();
      }

      const psqlOutput = execFileSync('psql', [server.connectionString, '--no-psqlrc', '--tuples-only', '--command', 'SELECT 40 + 2'], { encoding: 'utf8' });
      assert.equal(psqlOutput.trim(), '42');
      const dump = execFileSync('pg_dump', ['--schema-only', server.connectionString.replace(/\/postgres$/, '/template_copy')], { encoding: 'utf8' });
      assert.match(dump, /CREATE TABLE public\.copied/);
    } finally {
      await server.stop();
    }
  });

  test('second command on a busy folder is rejected', async () => {
    const dataDir = makeDataDir();
    const holder = await startServerInChild(dataDir);

    await assert.rejects(startEmbedded({ dataDir }), (error: unknown) => {
      assert.ok(error instanceof OnevaultError);
      assert.equal(error.code, 'EMBEDDED_IN_USE');
      assert.ok(error.message.includes(`pid ${holder.child.pid}`), error.message);
      assert.ok(error.message.includes(dataDir), error.message);
      return true;
    });
    await assert.rejects(startEmbeddedDetached({ dataDir }), { code: 'EMBEDDED_IN_USE' });
    await assert.rejects(stopEmbedded({ dataDir }), { code: 'EMBEDDED_IN_USE' });

    assert.equal(isProcessAlive(holder.pid), true);
    await killAndWait(holder.child);
  });

  test('second start in one process shares the server', async () => {
    const dataDir = makeDataDir();
    const progress: string[] = [];
    const first = await startEmbedded({ dataDir });
    const second = await startEmbedded({ dataDir, onProgress: (message) => progress.push(message) });
    try {
      assert.equal(second.pid, first.pid);
      assert.equal(second.connectionString, first.connectionString);
      assert.ok(progress.some((message) => message.includes('Sharing')), progress.join('\n'));

      await first.stop();
      await first.stop();
      assert.equal(isProcessAlive(first.pid), true, 'the server runs while the second handle is open');
      await query(second.connectionString, 'SELECT 1');
    } finally {
      await first.stop();
      await second.stop();
    }
    assert.equal(isProcessAlive(first.pid), false, 'the last release stops the server');
    assert.equal(fs.existsSync(path.join(dataDir, 'server.lock')), false);

    const [left, right] = await Promise.all([startEmbedded({ dataDir }), startEmbedded({ dataDir })]);
    assert.equal(left.pid, right.pid);
    assert.notEqual(left.pid, first.pid);
    await Promise.all([left.stop(), right.stop()]);
    assert.equal(isProcessAlive(left.pid), false);

    // Nested sessions, as a command that opens a scratch session while its first one is open.
    // An empty environment selects the embedded server even when DATABASE_URL is set for the test run.
    const result = await withDatabaseSession({ dataDir, env: {} }, async (outer) => {
      const inner = await withDatabaseSession({ dataDir, env: {} }, async (session) => {
        const row = await session.client.query<{ port: string }>("SELECT current_setting('port') AS port");
        return { port: Number(row.rows[0]?.port) };
      });
      // The inner session's end released its handle without stopping the server of the outer one.
      const still = await outer.client.query<{ answer: number }>('SELECT 1 AS answer');
      assert.deepEqual(still.rows, [{ answer: 1 }]);
      return { innerPort: inner.port, status: await getEmbeddedStatus({ dataDir }) };
    });

    assert.equal(result.innerPort, result.status.port);
    assert.equal(result.status.running, true);
    assert.equal((await getEmbeddedStatus({ dataDir })).running, false);
  });

  test('start recovers after the owning process is killed', async () => {
    const dataDir = makeDataDir();
    const holder = await startServerInChild(dataDir);
    await killAndWait(holder.child);
    assert.equal(isProcessAlive(holder.pid), true, 'the postmaster outlives its killed owner');

    const progress: string[] = [];
    const server = await startEmbedded({ dataDir, onProgress: (message) => progress.push(message) });
    try {
      assert.equal(await waitUntilDead(holder.pid), true, 'the orphaned postmaster is stopped');
      assert.notEqual(server.pid, holder.pid);
      assert.ok(progress.some((message) => message.includes('orphaned')), progress.join('\n'));
      await query(server.connectionString, 'SELECT 1');
    } finally {
      await server.stop();
    }
  });

  test('start recovers after the postmaster is killed', async () => {
    const dataDir = makeDataDir();
    const detached = await startEmbeddedDetached({ dataDir });
    assert.ok(detached.pid !== undefined);
    process.kill(detached.pid, 'SIGKILL');
    await waitUntilDead(detached.pid);
    assert.equal(fs.existsSync(path.join(dataDir, 'data', 'postmaster.pid')), true);

    const server = await startEmbedded({ dataDir });
    try {
      assert.equal(server.startedByUs, true);
      assert.notEqual(server.pid, detached.pid);
      await query(server.connectionString, 'SELECT 1');
    } finally {
      await server.stop();
    }

    const commandScoped = await startEmbedded({ dataDir });
    process.kill(commandScoped.pid, 'SIGKILL');
    await waitUntilDead(commandScoped.pid);
    await commandScoped.stop();

    const restarted = await startEmbedded({ dataDir });
    try {
      await query(restarted.connectionString, 'SELECT 1');
    } finally {
      await restarted.stop();
    }
  });

  test('detached server is reused, reported and stopped', async () => {
    const dataDir = makeDataDir();
    const started = await startEmbeddedDetached({ dataDir });
    assert.equal(started.running, true);
    assert.equal(started.mode, 'detached');
    assert.ok(started.connectionString !== undefined);

    const again = await startEmbeddedDetached({ dataDir });
    assert.equal(again.pid, started.pid);

    const reused = await startEmbedded({ dataDir });
    assert.equal(reused.startedByUs, false);
    assert.equal(reused.pid, started.pid);
    assert.equal(reused.connectionString, started.connectionString);
    await reused.stop();
    assert.equal(isProcessAlive(started.pid as number), true, 'stop() of a reused server leaves it running');

    const status = await getEmbeddedStatus({ dataDir });
    assert.equal(status.running, true);
    assert.equal(status.connectionString, started.connectionString);
    const psqlOutput = execFileSync('psql', [status.connectionString as string, '--no-psqlrc', '--tuples-only', '--command', 'SELECT current_user'], { encoding: 'utf8' });
    assert.equal(psqlOutput.trim(), 'postgres');

    const stopped = await stopEmbedded({ dataDir });
    assert.equal(stopped.running, false);
    assert.equal(stopped.initialised, true);
    assert.equal(isProcessAlive(started.pid as number), false);

    const stoppedAgain = await stopEmbedded({ dataDir });
    assert.equal(stoppedAgain.running, false);
  });

  test('shutdown handlers stop the server on SIGTERM', async () => {
    const dataDir = makeDataDir();
    const { child, report } = await runChild(
      dataDir,
      `embedded.registerEmbeddedShutdownHandlers();
      embedded.startEmbedded({ dataDir }).then((server) => {
        console.log(JSON.stringify({ pid: server.pid }));
        setInterval(() => {}, 1000);
      });`,
    );
    assert.equal(typeof report.pid, 'number');

    child.kill('SIGTERM');
    const exit = await waitForExit(child);

    assert.equal(exit.signal, 'SIGTERM');
    assert.equal(isProcessAlive(report.pid as number), false);
    assert.equal(fs.existsSync(path.join(dataDir, 'server.lock')), false);
  });

  test('detached server outlives its process', async () => {
    const dataDir = makeDataDir();
    const { child, report } = await runChild(
      dataDir,
      `embedded.registerEmbeddedShutdownHandlers();
      embedded.startEmbeddedDetached({ dataDir }).then((status) => console.log(JSON.stringify(status)));`,
    );
    const exit = await waitForExit(child);
    assert.equal(exit.code, 0);

    const status = await getEmbeddedStatus({ dataDir });
    assert.equal(status.running, true);
    assert.equal(status.pid, report.pid);
    await query(status.connectionString as string, 'SELECT 1');

    assert.equal((await stopEmbedded({ dataDir })).running, false);
  });

  test('status of an unknown folder is not initialised', async () => {
    const dataDir = path.join(makeDataDir(), 'never-used');
    const status = await getEmbeddedStatus({ dataDir });
    assert.deepEqual(status, { dataDir, clusterDir: path.join(dataDir, 'data'), running: false, initialised: false, logFile: path.join(dataDir, 'server.log') });
    assert.equal(fs.existsSync(dataDir), false);
  });

  test('start failure quotes the server log', async () => {
    const dataDir = makeDataDir();
    const server = await startEmbedded({ dataDir });
    await server.stop();
    fs.appendFileSync(path.join(dataDir, 'data', 'postgresql.conf'), "\nshared_buffers = 'not a size\n");

    await assert.rejects(startEmbedded({ dataDir }), (error: unknown) => {
      assert.ok(error instanceof OnevaultError);
      assert.equal(error.code, 'EMBEDDED_START_FAILED');
      assert.match(error.message, /postgresql\.conf/);
      assert.match(error.message, /contains errors|syntax error|unterminated/);
      assert.ok(error.message.includes(path.join(dataDir, 'server.log')), error.message);
      return true;
    });

    const status = await getEmbeddedStatus({ dataDir });
    assert.equal(status.running, false);
    assert.equal(fs.existsSync(path.join(dataDir, 'server.lock')), false);
  });

  test('data folder with shell quotes is rejected', async () => {
    await assert.rejects(startEmbedded({ dataDir: path.join(os.tmpdir(), 'bad"name') }), { code: 'INVALID_ARGUMENT' });
  });

  test('missing library symlinks are recreated', async () => {
    const packageRoot = makeDataDir();
    const nativeDir = path.join(packageRoot, 'native');
    fs.mkdirSync(path.join(nativeDir, 'lib'), { recursive: true });
    fs.copyFileSync(path.join(findPackagedNativeDir().nativeDir, 'pg-symlinks.json'), path.join(nativeDir, 'pg-symlinks.json'));
    fs.writeFileSync(path.join(nativeDir, 'lib', 'libicuuc.so.60.2'), 'library');
    fs.symlinkSync('missing-file', path.join(nativeDir, 'lib', 'libicuuc.so'));

    const created = await ensureLibrarySymlinks(nativeDir);

    assert.ok(created >= 2, `created ${created}`);
    assert.equal(fs.readlinkSync(path.join(nativeDir, 'lib', 'libicuuc.so.60')), 'libicuuc.so.60.2');
    assert.equal(fs.readFileSync(path.join(nativeDir, 'lib', 'libicuuc.so'), 'utf8'), 'library');
    assert.equal(await ensureLibrarySymlinks(nativeDir), 0);
  });

  test('binaries out of reach of postgres are copied', { skip: isRunningAsRoot() ? false : 'runs only as root' }, async () => {
    const serverUser = lookupOsUser('postgres');
    assert.ok(serverUser !== undefined, 'the postgres OS user exists');

    // A 0700 folder like /root: the postgres OS user cannot enter it.
    const privateRoot = makeDataDir();
    fs.chmodSync(privateRoot, 0o700);
    const packageRoot = path.join(privateRoot, 'package');
    linkTree(path.dirname(findPackagedNativeDir().nativeDir), packageRoot);
    fs.rmSync(path.join(packageRoot, 'native', 'lib', 'libicuuc.so.60'));
    const cacheRoot = makeDataDir();
    fs.chmodSync(cacheRoot, 0o755);

    const binaries = await ensurePostgresBinaries({ nativeDir: path.join(packageRoot, 'native'), cacheRoot, runAs: serverUser });

    assert.ok(binaries.binDir.startsWith(cacheRoot), binaries.binDir);
    const version = await runProgram(binaries.postgres, ['--version'], serverUser);
    assert.equal(version.exitCode, 0, version.stderr);
    assert.match(version.stdout, /PostgreSQL\) 15\./);
  });
});
