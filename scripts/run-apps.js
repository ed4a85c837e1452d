#!/usr/bin/env node
// Runs the built apps as child processes with one shared console: each line prefixed by the app's
// name, pid files under .stack/run/, SIGINT/SIGTERM forwarded so each app shuts down gracefully.
// Usage: node scripts/run-apps.js [api] [aggregator] [projector] [monitor]   (default: all that are built)
const { spawn } = require('node:child_process');
const { existsSync, mkdirSync, writeFileSync, rmSync } = require('node:fs');
const { join } = require('node:path');
const readline = require('node:readline');

const root = join(__dirname, '..');
const { runtimeEnv } = require(join(root, 'dist', 'libs', 'config', 'src', 'runtime.js'));
const runDir = join(process.env.DOUBLETAP_STACK_DIR || join(root, '.stack'), 'run');
mkdirSync(runDir, { recursive: true });
const wanted = process.argv.slice(2).length ? process.argv.slice(2) : ['aggregator', 'projector', 'api', 'monitor'];
const children = new Map();
let stopping = false;

for (const app of wanted) {
  const main = join(root, 'dist', 'apps', app, 'src', 'main.js');
  if (!existsSync(main)) {
    process.stderr.write(`run-apps: ${app} is not built (${main}); skipping\n`);
    continue;
  }
  const child = spawn(process.execPath, ['-r', join(root, 'scripts', 'paths.js'), main], {
    cwd: root,
    // the app's runtime profile (libs/config/src/runtime.ts: the aggregator's heap cap and arenas)
    env: { ...process.env, ...runtimeEnv(app) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pidFile = join(runDir, `app-${app}.pid`);
  writeFileSync(pidFile, String(child.pid));
  children.set(app, child);
  for (const stream of [child.stdout, child.stderr]) {
    readline.createInterface({ input: stream }).on('line', (line) => process.stdout.write(`${app.padEnd(10)} | ${line}\n`));
  }
  child.on('exit', (code, signal) => {
    rmSync(pidFile, { force: true });
    children.delete(app);
    process.stdout.write(`${app.padEnd(10)} | exited (${signal ?? code})\n`);
    if (!stopping) shutdown(code === 0 ? 'SIGTERM' : 'SIGTERM', code || 1);
    if (children.size === 0) process.exit(process.exitCode ?? 0);
  });
}

function shutdown(signal, code = 0) {
  if (stopping) return;
  stopping = true;
  process.exitCode = code;
  for (const child of children.values()) child.kill(signal);
}

process.on('SIGINT', () => shutdown('SIGTERM'));
process.on('SIGTERM', () => shutdown('SIGTERM'));
if (children.size === 0) {
  process.stderr.write('run-apps: no app is built; run npm run build\n');
  process.exit(1);
}
