import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { haproxyConfig, type HaproxyConfigOptions } from './config';
import { readBalancerStats, type BalancerStats } from './stats';

/** The haproxy executable: HAPROXY_PATH, else Debian's /usr/sbin/haproxy, else `haproxy` on PATH. */
export function haproxyPath(env: Record<string, string | undefined> = process.env): string {
  if (env.HAPROXY_PATH) return env.HAPROXY_PATH;
  return existsSync('/usr/sbin/haproxy') ? '/usr/sbin/haproxy' : 'haproxy';
}

/** `haproxy -c -f <file>`: resolves when HAProxy accepts the config, rejects with its own words. */
export async function checkHaproxyConfig(file: string, binary = haproxyPath()): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    execFile(binary, ['-c', '-f', file], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err)
        reject(
          new Error(
            `haproxy -c -f ${file} refused the config:\n${`${stdout}${stderr}`.trim() || err.message}`,
          ),
        );
      else resolve();
    });
  });
}

export interface StartHaproxyOptions extends HaproxyConfigOptions {
  /** where the config (`haproxy/<name>.cfg`) and the pid file (`run/<name>.pid`) go: $DOUBLETAP_STACK_DIR, else ./.stack */
  readonly stackDir?: string;
  /** the file names' stem (default `haproxy`); several balancers at once need their own */
  readonly instanceName?: string;
  /** the executable (default haproxyPath()) */
  readonly binary?: string;
  /** each line HAProxy writes (server state changes, warnings) */
  readonly onLine?: (line: string) => void;
  /** how long to wait until the stats page answers (default 10 s) */
  readonly readyTimeoutMs?: number;
}

/** A running HAProxy started by startHaproxy. */
export interface HaproxyProcess {
  /** where clients connect, e.g. http://127.0.0.1:8080 */
  readonly url: string;
  /** the stats page (its CSV: `${statsUrl};csv`) */
  readonly statsUrl: string;
  /** Prometheus metrics of the balancer */
  readonly metricsUrl: string;
  readonly pid: number;
  readonly child: ChildProcess;
  readonly configFile: string;
  readonly pidFile: string;
  /** HAProxy's own lines, oldest first (the last 500) */
  readonly logs: string[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stats(): Promise<BalancerStats>;
  /** resolves once every named server (all when none is named) is in `state` (UP, DOWN...); rejects after timeoutMs */
  untilServers(state: string, names?: readonly string[], timeoutMs?: number): Promise<BalancerStats>;
  /** stops it by pid (SIGTERM: connections are closed at once), removes the pid file and the config */
  stop(): Promise<void>;
}

const url = (host: string, port: number) => {
  const h = ['0.0.0.0', '::', ''].includes(host) ? '127.0.0.1' : host;
  return `http://${h.includes(':') ? `[${h}]` : h}:${port}`;
};

/**
 * Writes the config (haproxyConfig) to `<stackDir>/haproxy/<name>.cfg`, checks it with `haproxy -c`,
 * starts HAProxy in the foreground as a child (`-db`: its state changes reach `onLine`), writes its
 * pid to `<stackDir>/run/<name>.pid` (`stack.sh status` shows it, `stack.sh down` stops it by pid),
 * and resolves once its stats page answers. The api replicas need not be ready yet: HAProxy marks
 * them UP as their /ready turns 200.
 */
export async function startHaproxy(options: StartHaproxyOptions): Promise<HaproxyProcess> {
  const stackDir = options.stackDir ?? process.env.DOUBLETAP_STACK_DIR ?? join(process.cwd(), '.stack');
  const stem = options.instanceName ?? 'haproxy';
  if (!/^[A-Za-z0-9_.-]{1,100}$/.test(stem))
    throw new Error(`instanceName '${stem}' must be a plain file name`);
  const binary = options.binary ?? haproxyPath();
  const configFile = join(stackDir, 'haproxy', `${stem}.cfg`);
  const pidFile = join(stackDir, 'run', `${stem}.pid`);
  await mkdir(join(stackDir, 'haproxy'), { recursive: true });
  await mkdir(join(stackDir, 'run'), { recursive: true });
  const previous = await readFile(pidFile, 'utf8').catch(() => '');
  if (previous && isHaproxy(Number(previous), configFile))
    throw new Error(`HAProxy ${stem} already runs (pid ${previous.trim()}, ${pidFile}): stop it first`);
  await writeFile(configFile, haproxyConfig(options));
  await checkHaproxyConfig(configFile, binary);

  const child = spawn(binary, ['-db', '-f', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: string[] = [];
  const onLine = (line: string) => {
    logs.push(line);
    if (logs.length > 500) logs.shift();
    options.onLine?.(line);
  };
  createInterface({ input: child.stdout }).on('line', onLine);
  createInterface({ input: child.stderr }).on('line', onLine);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (e) => {
      onLine(`could not start ${binary}: ${e.message}`);
      resolve({ code: null, signal: null });
    });
  });
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  if (child.pid === undefined) {
    await exited;
    throw new Error(`could not start ${binary} (scripts/ensure-haproxy.sh installs it): ${logs.join('\n')}`);
  }
  const pid = child.pid;
  await writeFile(pidFile, `${pid}\n`);
  void exited.then(async () => {
    // only our own pid file: a later start may have written its own
    if ((await readFile(pidFile, 'utf8').catch(() => '')).trim() === String(pid))
      await rm(pidFile, { force: true });
  });

  const statsUrl = `${url(options.stats.host, options.stats.port)}/stats`;
  const stop = async () => {
    if (!gone()) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    await rm(pidFile, { force: true });
    await rm(configFile, { force: true });
  };
  const deadline = Date.now() + (options.readyTimeoutMs ?? 10_000);
  for (;;) {
    if (gone()) {
      await stop();
      throw new Error(`haproxy exited before its stats page answered:\n${logs.slice(-20).join('\n')}`);
    }
    try {
      await readBalancerStats(statsUrl, 1000);
      break;
    } catch (e) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(
          `haproxy's stats page (${statsUrl}) did not answer: ${(e as Error).message}\n${logs.slice(-20).join('\n')}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const name = options.name ?? 'api';
  return {
    url: url(options.listen.host, options.listen.port),
    statsUrl,
    metricsUrl: `${url(options.stats.host, options.stats.port)}/metrics`,
    pid,
    child,
    configFile,
    pidFile,
    logs,
    exited,
    stats: () => readBalancerStats(statsUrl),
    untilServers: async (state, names, timeoutMs = 30_000) => {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const stats = await readBalancerStats(statsUrl);
        const ours = stats.servers.filter((s) => s.proxy === name && (!names || names.includes(s.server)));
        if (ours.length > 0 && ours.every((s) => s.state === state)) return stats;
        if (Date.now() > until)
          throw new Error(
            `not every server of ${name} is ${state} after ${timeoutMs} ms: ${ours.map((s) => `${s.server}=${s.status} (${s.checkStatus})`).join(', ')}`,
          );
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    stop,
  };
}

/** True when `pid` is a live haproxy running `configFile` (a stale pid file may name another process). */
function isHaproxy(pid: number, configFile: string): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(configFile);
  } catch {
    return true;
  }
}
