#!/usr/bin/env node
'use strict';

const path = require('node:path');
const fs = require('node:fs');

const entry = path.join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
if (!fs.existsSync(entry)) {
  process.stderr.write('onevault is not built: dist/src/cli/main.js is missing. Run "npm install" (or "npm run build") in the onevault folder first.\n');
  process.exit(2);
}
require(entry).main(process.argv);
