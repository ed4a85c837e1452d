import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { runtimeEnv } from '@doubletap/config';
import { REPO_ROOT } from './stack';
import { stopChild } from './processes';

export type AppName = 'api' | 'aggregator' | 'projector';

/** The log line each app writes once it serves (its fields carry the port or URL). */
const STARTED: Record<AppName, string> = {
  api: 'listening',
  aggregator: 'aggregator started',
  projector: 'projector started',
};

/** One built app running as its own process, its log lines kept for assertions. */
export interface AppProcess {
  readonly name: AppName;
  readonly child: ChildProcess;
  /** the last log lines (stdout and stderr), oldest first */
  readonly logs: string[];
  /** the fields of the app's start log line (rejects if it exits first) */
  readonly started: Promise<Record<string, unknown>>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** log lines whose `msg` is `msg` (parsed JSON) */
  linesWith(msg: string): Array<Record<string, unknown>>;
}

export interface SpawnAppOptions {
  /** log level of the app (default info, so its start line and lifecycle lines can be read) */
  logLevel?: string;
  /** extra node flags (e.g. --cpu-prof) */
  nodeArgs?: string[];
  /** every line is also passed here (prefixed with the app's name) */
  onLine?: (line: string) => void;
  /** lines kept (default 2000) */
  keep?: number;
}

/**
 * Starts a built app (`dist/apps/<name>/src/main.js`, compiled once by the e2e global setup) as its
 * own process with the lib aliases resolved, and keeps its log lines. Stop it with stopApp (SIGTERM,
 * then SIGKILL after a grace period), or kill it yourself through `child`.
 */
export function spawnApp(name: AppName, env: Record<string, string>, options: SpawnAppOptions = {}): AppProcess {
  const args = [...(options.nodeArgs ?? []), '-r', join(REPO_ROOT, 'scripts', 'paths.js'), join(REPO_ROOT, 'dist', 'apps', name, 'src', 'main.js')];
  const child = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    // the app's runtime profile (heap cap, malloc arenas) as `npm start` and the deploy files use it
    env: { ...process.env, ...env, ...runtimeEnv(name, { ...process.env, ...env }), LOG_LEVEL: options.logLevel ?? env.LOG_LEVEL ?? 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const keep = options.keep ?? 2000;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const started = new Promise<Record<string, unknown>>((resolve, reject) => {
    const onLine = (line: string) => {
      logs.push(line);
      if (logs.length > keep) logs.shift();
      options.onLine?.(`${name} | ${line}`);
      const entry = parseLogLine(line);
      if (entry?.msg === STARTED[name]) resolve(entry);
    };
    createInterface({ input: child.stdout }).on('line', onLine);
    createInterface({ input: child.stderr }).on('line', onLine);
    void exited.then(() => reject(new Error(`${name} exited before it started:\n${logs.slice(-20).join('\n')}`)));
  });
  started.catch(() => undefined);
  return {
    name,
    child,
    logs,
    started,
    exited,
    linesWith: (msg) => logs.map(parseLogLine).filter((e): e is Record<string, unknown> => e?.msg === msg),
  };
}

export async function stopApp(app: AppProcess, graceMs = 15_000): Promise<void> {
  await stopChild(app.child, graceMs);
}

/** A structured log line as its fields; undefined for any other line. */
export function parseLogLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
