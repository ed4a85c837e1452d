#!/usr/bin/env node
// The doubletap operator CLI. Runs the compiled CLI app (npm run build) with the lib aliases resolved.
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const main = join(__dirname, '..', 'dist', 'apps', 'cli', 'src', 'main.js');
if (!existsSync(main)) {
  process.stderr.write('doubletap: not built yet: run `npm run build` in the repository first\n');
  process.exit(1);
}
require('../scripts/paths.js');
require(main);
