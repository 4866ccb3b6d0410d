import type { Command } from 'commander';

import { getEmbeddedStatus, startEmbeddedDetached, stopEmbedded, type EmbeddedStatus } from '../../connection/embedded';
import { ensureDatabase } from '../../connection/session';
import { DEFAULT_DATABASE_NAME, maskUrl } from '../../connection/settings';
import { OnevaultError } from '../../errors';
import { globalOptionsOf } from '../context';
import { printJson, printProgress, printResult } from '../output';
import * as path from 'node:path';

export function registerDbCommand(program: Command): Command {
  const db = program
    .command('db')
    .description('manage the embedded PostgreSQL server that is used when no connection settings are given')
    .addHelpText('after', '\nExamples:\n  $ onevault db start\n  $ psql "$(onevault db url)"\n  $ onevault db stop');

  db.command('start')
    .description('start the embedded server and leave it running, so that psql and later commands can use it')
    .addHelpText('after', '\nExample:\n  $ onevault db start && psql "$(onevault db url)"')
    .action(async (_options: unknown, self: Command) => {
      const global = globalOptionsOf(self);
      const status = await startEmbeddedDetached({ dataDir: dataDirOf(global.dataDir), createOsUser: global.createOsUser, onProgress: global.json ? undefined : printProgress });
      // So that `psql "$(onevault db url)"` works before the first deploy.
      if (status.connectionString) await ensureDatabase(status.connectionString, DEFAULT_DATABASE_NAME);
      render(status, global.json === true);
    });

  db.command('stop')
    .description('stop the embedded server')
    .addHelpText('after', '\nExample:\n  $ onevault db stop --data-dir .onevault')
    .action(async (_options: unknown, self: Command) => {
      const global = globalOptionsOf(self);
      render(await stopEmbedded({ dataDir: dataDirOf(global.dataDir) }), global.json === true);
    });

  db.command('status')
    .description('show whether the embedded server runs, with its folder, pid and port')
    .addHelpText('after', '\nExample:\n  $ onevault db status --json')
    .action(async (_options: unknown, self: Command) => {
      const global = globalOptionsOf(self);
      render(await getEmbeddedStatus({ dataDir: dataDirOf(global.dataDir) }), global.json === true);
    });

  db.command('url')
    .description(`print the connection URL of the running embedded server's ${DEFAULT_DATABASE_NAME} database, for psql`)
    .addHelpText('after', '\nExample:\n  $ psql "$(onevault db url)" -c "SELECT 1"')
    .action(async (_options: unknown, self: Command) => {
      const global = globalOptionsOf(self);
      const status = await getEmbeddedStatus({ dataDir: dataDirOf(global.dataDir) });
      if (!status.running || !status.connectionString) {
        throw new OnevaultError('EMBEDDED_NOT_RUNNING', `The embedded server in ${status.dataDir} is not running, so it has no URL.`, {
          hint: 'Start it with onevault db start.',
        });
      }
      const url = databaseUrl(status.connectionString);
      if (global.json) printJson({ url });
      else printResult(url);
    });

  return db;
}

function dataDirOf(dataDir: string | undefined): string {
  return path.resolve(dataDir ?? '.onevault');
}

function databaseUrl(serverUrl: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${DEFAULT_DATABASE_NAME}`;
  return url.toString();
}

function render(status: EmbeddedStatus, json: boolean): void {
  if (json) {
    // The password stays out of status output. `onevault db url` prints the whole URL for psql.
    const masked = status.connectionString ? { ...status, connectionString: maskUrl(status.connectionString), url: maskUrl(databaseUrl(status.connectionString)) } : status;
    printJson(masked);
    return;
  }
  printResult(`folder:      ${status.dataDir}`);
  if (status.clusterDir && status.clusterDir !== path.join(status.dataDir, 'data')) printResult(`cluster:     ${status.clusterDir} (the postgres user cannot reach the folder above)`);
  printResult(`initialised: ${status.initialised ? 'yes' : 'no'}`);
  printResult(`running:     ${status.running ? `yes (pid ${status.pid}, port ${status.port})` : 'no'}`);
  if (status.running && status.connectionString) printResult(`url:         ${maskUrl(databaseUrl(status.connectionString))} (onevault db url prints it with the password)`);
}
