#!/usr/bin/env node
// Runs the built apps as child processes with one shared console: each line prefixed by the
// instance's name, pid files under $DOUBLETAP_STACK_DIR/run/, SIGINT/SIGTERM forwarded so each app
// shuts down gracefully. Several instances of an app and HAProxy in front of the api replicas:
// `npm start -- --api 3 --aggregators 2` (the port plan: planRun in libs/balancer). --help says more.
const { spawn, execFileSync } = require('node:child_process');
const { existsSync, mkdirSync, writeFileSync, rmSync, readFileSync } = require('node:fs');
const { join } = require('node:path');
const readline = require('node:readline');

const root = join(__dirname, '..');
// the compiled libs import each other as @doubletap/<lib>: resolve those before loading any of them
require('./paths.js');

const { parseRunArgs, RUN_APPS, RUN_USAGE, planRun, startHaproxy } = require(
  join(root, 'dist', 'libs', 'balancer', 'src', 'index.js'),
);

let args;
try {
  args = parseRunArgs(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`run-apps: ${e.message}\n\n${RUN_USAGE}`);
  process.exit(2);
}
if (args.help) {
  process.stdout.write(RUN_USAGE);
  process.exit(0);
}

const built = (app) => existsSync(join(root, 'dist', 'apps', app, 'src', 'main.js'));
const { runtimeEnv } = require(join(root, 'dist', 'libs', 'config', 'src', 'runtime.js'));
const { loadSettings } = require(join(root, 'dist', 'libs', 'config', 'src', 'settings.js'));
const stackDir = process.env.DOUBLETAP_STACK_DIR || join(root, '.stack');
const runDir = join(stackDir, 'run');
mkdirSync(runDir, { recursive: true });

// positional app names select apps (the others get 0 unless a flag gives them a count)
const selected = (app) => args.only.length === 0 || args.only.includes(app);
const countOf = (app) => args.counts[app] ?? (selected(app) ? 1 : 0);
for (const app of RUN_APPS) {
  if (app === 'monitor' ? selected(app) && args.monitor !== false : countOf(app) > 0) {
    if (!built(app))
      process.stderr.write(`run-apps: ${app} is not built (dist/apps/${app}/src/main.js); skipping\n`);
  }
}

let plan;
try {
  const settings = loadSettings(process.env);
  plan = planRun({
    api: built('api') ? countOf('api') : 0,
    aggregators: built('aggregator') ? countOf('aggregator') : 0,
    projectors: built('projector') ? countOf('projector') : 0,
    monitor: built('monitor') && selected('monitor') && args.monitor !== false,
    lb: args.lb,
    ports: {
      api: settings.api.port,
      aggregator: settings.aggregator.port,
      projector: settings.projector.port,
      monitor: settings.monitor.port,
    },
    hosts: {
      api: settings.api.host,
      aggregator: settings.aggregator.host,
      projector: settings.projector.host,
    },
    aggregatorDataDir: settings.aggregator.dataDir,
  });
} catch (e) {
  process.stderr.write(`run-apps: ${e.message}\n`);
  process.exit(2);
}
if (plan.instances.length === 0) {
  process.stderr.write('run-apps: no app is built; run npm run build\n');
  process.exit(1);
}

const width = Math.max(10, ...plan.instances.map((i) => i.name.length), plan.balancer ? 'haproxy'.length : 0);
const say = (name, line) => process.stdout.write(`${name.padEnd(width)} | ${line}\n`);
const children = new Map(); // name -> { child, app }
let haproxy;
let stopping = false;

function shutdown(code = 0) {
  if (stopping) return;
  stopping = true;
  process.exitCode = code;
  for (const { child } of children.values()) child.kill('SIGTERM');
  finishIfDone();
}

// the balancer goes last: while the api replicas drain, it still answers (their /ready is 503)
let finishing = false;
function finishIfDone() {
  if (!stopping || children.size > 0 || finishing) return;
  finishing = true;
  // stop() also removes the pid file when HAProxy has exited by itself
  void (haproxy ? haproxy.stop() : Promise.resolve()).finally(() => process.exit(process.exitCode ?? 0));
}

function readPid(file) {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}

function start(instance) {
  const main = join(root, 'dist', 'apps', instance.app, 'src', 'main.js');
  const env = { ...process.env, ...instance.env };
  const child = spawn(process.execPath, ['-r', join(root, 'scripts', 'paths.js'), main], {
    cwd: root,
    // the app's runtime profile (libs/config/src/runtime.ts: the aggregator's heap cap and arenas)
    env: { ...env, ...runtimeEnv(instance.app, env) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pidFile = join(runDir, `app-${instance.name}.pid`);
  writeFileSync(pidFile, String(child.pid));
  children.set(instance.name, { child, app: instance.app });
  for (const stream of [child.stdout, child.stderr])
    readline.createInterface({ input: stream }).on('line', (line) => say(instance.name, line));
  child.on('exit', (code, signal) => {
    if (readPid(pidFile) === String(child.pid)) rmSync(pidFile, { force: true });
    children.delete(instance.name);
    say(instance.name, `exited (${signal ?? code})`);
    if (!stopping) {
      const left = [...children.values()].filter((c) => c.app === instance.app).length;
      if (left > 0) say(instance.name, `${left} ${instance.app} instance(s) still running; the run goes on`);
      else shutdown(code || 1);
    }
    finishIfDone();
  });
}

process.on('SIGINT', () => shutdown(0));
process.on('SIGTERM', () => shutdown(0));

async function main() {
  if (plan.balancer) {
    execFileSync('bash', [join(root, 'scripts', 'ensure-haproxy.sh')], { stdio: 'inherit' });
    const b = plan.balancer;
    haproxy = await startHaproxy({
      stackDir,
      listen: { host: b.host, port: b.port },
      stats: { host: b.host, port: b.statsPort },
      servers: b.servers,
      onLine: (line) => say('haproxy', line),
    });
    say(
      'haproxy',
      `pid ${haproxy.pid}: ${haproxy.url} -> ${b.servers.map((s) => `${s.name} :${s.port}`).join(', ')}; stats ${haproxy.statsUrl}`,
    );
    void haproxy.exited.then(({ code, signal }) => {
      say('haproxy', `exited (${signal ?? code})`);
      if (!stopping) shutdown(code || 1);
      finishIfDone();
    });
  }
  for (const instance of plan.instances) if (!stopping) start(instance);
}

main().catch((e) => {
  process.stderr.write(`run-apps: ${e instanceof Error ? e.message : String(e)}\n`);
  shutdown(1);
});
