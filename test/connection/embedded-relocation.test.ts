import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import { Client } from 'pg';

import { getEmbeddedStatus, startEmbedded, startEmbeddedDetached, stopEmbedded } from '../../src/connection/embedded';
import { DEFAULT_RELOCATED_CLUSTERS_DIR } from '../../src/connection/embedded-location';
import { isRunningAsRoot, lookupOsUser } from '../../src/connection/embedded-os-user';
import { isProcessAlive } from '../../src/connection/embedded-process';

const BIN = path.resolve(__dirname, '../../../bin/onevault.js');

// A private parent folder like /root: the postgres OS user cannot enter anything below it.
const privateParent = fs.mkdtempSync(path.join(os.tmpdir(), 'onevault-embedded-private-'));
const projectDir = path.join(privateParent, 'project');
const dataDir = path.join(projectDir, '.onevault');
const expectedServerDir = path.join(DEFAULT_RELOCATED_CLUSTERS_DIR, createHash('sha256').update(dataDir).digest('hex').slice(0, 16));

after(async () => {
  await stopEmbedded({ dataDir }).catch(() => undefined);
  fs.rmSync(privateParent, { recursive: true, force: true });
  fs.rmSync(expectedServerDir, { recursive: true, force: true });
});

async function query<T = Record<string, unknown>>(connectionString: string, sql: string): Promise<T[]> {
  const client = new Client({ connectionString });
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

function ownerName(file: string): string | undefined {
  const uid = fs.statSync(file).uid;
  return uid === 0 ? 'root' : uid === lookupOsUser('postgres')?.uid ? 'postgres' : String(uid);
}

describe('embedded cluster out of reach of postgres', { skip: isRunningAsRoot() ? false : 'runs only as root' }, () => {
  test('start, reuse and stop relocate the cluster', async () => {
    fs.mkdirSync(projectDir);
    assert.equal(fs.statSync(privateParent).mode & 0o777, 0o700);
    const progress: string[] = [];

    const first = await startEmbedded({ dataDir, onProgress: (message) => progress.push(message) });
    try {
      assert.equal(first.clusterDir, path.join(expectedServerDir, 'data'));
      assert.equal(first.logFile, path.join(expectedServerDir, 'server.log'));
      assert.ok(progress.some((message) => message.includes(`cannot enter ${dataDir}`)), progress.join('\n'));
      await query(first.connectionString, 'CREATE TABLE kept (value text); INSERT INTO kept VALUES ($$still here$$)');
    } finally {
      await first.stop();
    }
    assert.equal(isProcessAlive(first.pid), false);

    // Small files stay in the data folder, and no permission of the private parent changed.
    assert.equal(fs.readFileSync(path.join(dataDir, 'cluster-location'), 'utf8'), `${expectedServerDir}\n`);
    assert.equal(fs.statSync(path.join(dataDir, 'credentials.json')).mode & 0o777, 0o600);
    assert.equal(fs.existsSync(path.join(dataDir, 'data')), false);
    assert.equal(fs.existsSync(path.join(dataDir, 'server.lock')), false);
    assert.equal(fs.statSync(privateParent).mode & 0o777, 0o700);
    assert.equal(fs.statSync(expectedServerDir).mode & 0o777, 0o755);
    assert.equal(ownerName(expectedServerDir), 'root');
    assert.equal(ownerName(path.join(expectedServerDir, 'data')), 'postgres');

    const stopped = await getEmbeddedStatus({ dataDir });
    assert.equal(stopped.initialised, true);
    assert.equal(stopped.running, false);
    assert.equal(stopped.clusterDir, path.join(expectedServerDir, 'data'));

    progress.length = 0;
    const second = await startEmbedded({ dataDir, onProgress: (message) => progress.push(message) });
    try {
      assert.equal(second.connectionString, first.connectionString);
      assert.ok(!progress.some((message) => message.includes('Initialising')), progress.join('\n'));
      assert.deepEqual(await query(second.connectionString, 'SELECT value FROM kept'), [{ value: 'still here' }]);
    } finally {
      await second.stop();
    }
    assert.equal(isProcessAlive(second.pid), false);
  });

  test('db commands report the relocated cluster', async () => {
    const run = (...args: string[]): { status: number | null; stdout: string; stderr: string } =>
      spawnSync(process.execPath, [BIN, '--data-dir', dataDir, '--json', ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });

    const started = run('db', 'start');
    assert.equal(started.status, 0, started.stderr);
    const status = run('db', 'status');
    assert.equal(status.status, 0, status.stderr);
    const report = JSON.parse(status.stdout) as { running: boolean; clusterDir: string; pid: number; url: string };
    assert.equal(report.running, true);
    assert.equal(report.clusterDir, path.join(expectedServerDir, 'data'));
    assert.doesNotMatch(status.stdout, /:\/\/[^:/@]+:(?!\*\*\*\*@)[^@]*@/, 'db status must not print the password');
    const url = run('db', 'url');
    assert.equal(url.status, 0, url.stderr);
    const fullUrl = (JSON.parse(url.stdout) as { url: string }).url;
    assert.deepEqual(await query(fullUrl.replace(/\/one_vault$/, '/postgres'), 'SELECT value FROM kept'), [{ value: 'still here' }]);

    const stopped = run('db', 'stop');
    assert.equal(stopped.status, 0, stopped.stderr);
    assert.equal((JSON.parse(stopped.stdout) as { running: boolean }).running, false);
    assert.equal(isProcessAlive(report.pid), false);
  });

  test('deleted data folder gets a fresh cluster', async () => {
    const detached = await startEmbeddedDetached({ dataDir });
    assert.ok(detached.pid !== undefined);
    fs.rmSync(dataDir, { recursive: true, force: true });

    const progress: string[] = [];
    const fresh = await startEmbedded({ dataDir, onProgress: (message) => progress.push(message) });
    try {
      assert.equal(isProcessAlive(detached.pid), false, 'the server of the deleted data folder was stopped');
      assert.ok(progress.some((message) => message.includes('stale cluster')), progress.join('\n'));
      assert.ok(progress.some((message) => message.includes('Initialising')), progress.join('\n'));
      assert.equal(fresh.clusterDir, path.join(expectedServerDir, 'data'));
      assert.deepEqual(await query(fresh.connectionString, "SELECT to_regclass('kept') IS NULL AS absent"), [{ absent: true }]);
    } finally {
      await fresh.stop();
    }
  });
});
