#!/usr/bin/env node
'use strict';

// Runs the compiled test files with node's test runner against a real PostgreSQL server: the one
// that DATABASE_URL names, or else an embedded server that this script starts in .onevault-test/
// and stops afterwards. Extra arguments are test files or folders under dist/test to run instead of all.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const compiledTests = path.join(root, 'dist', 'test');

function findTestFiles(folder) {
  if (!fs.existsSync(folder)) return [];
  if (fs.statSync(folder).isFile()) return [folder];
  return fs
    .readdirSync(folder, { withFileTypes: true })
    .flatMap((entry) => {
      const full = path.join(folder, entry.name);
      if (entry.isDirectory()) return findTestFiles(full);
      return entry.name.endsWith('.test.js') ? [full] : [];
    })
    .sort();
}

function runNodeTest(files, env) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--test', '--test-reporter=spec', ...files], { stdio: 'inherit', env });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

async function main() {
  const selected = process.argv.slice(2).map((argument) => path.resolve(argument));
  const files = (selected.length > 0 ? selected : [compiledTests]).flatMap(findTestFiles);
  if (files.length === 0) {
    process.stderr.write(`No compiled test files found under ${compiledTests}. Run "npm test", which compiles them first.\n`);
    process.exitCode = 1;
    return;
  }

  const env = { ...process.env };
  let server;
  if (!env.DATABASE_URL) {
    const { registerEmbeddedShutdownHandlers, startEmbedded } = require(path.join(root, 'dist', 'src', 'connection', 'embedded.js'));
    // Ctrl-C or SIGTERM during the run stops the test server before this process ends.
    registerEmbeddedShutdownHandlers();
    process.stderr.write('DATABASE_URL is not set: starting the embedded PostgreSQL server in .onevault-test/ for the tests.\n');
    server = await startEmbedded({ dataDir: path.join(root, '.onevault-test') });
    env.DATABASE_URL = server.connectionString;
  }
  env.ONEVAULT_TEST_DATABASE_URL = env.DATABASE_URL;

  try {
    process.exitCode = await runNodeTest(files, env);
  } finally {
    if (server) await server.stop();
  }
}

main().catch((error) => {
  process.stderr.write(`The test run could not start: ${error && error.stack ? error.stack : error}\n`);
  process.exitCode = 1;
});
