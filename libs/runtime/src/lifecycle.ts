import { ConfigError, loadSettings, type Settings } from '@doubletap/config';
import { createLogger, type Logger } from '@doubletap/observability';

/** What a started worker gives back: one graceful stop. */
export interface Stoppable {
  stop(): Promise<void>;
}

export interface WorkerContext {
  readonly settings: Settings;
  readonly logger: Logger;
  /** the process cannot go on: stop gracefully, then exit 1 */
  readonly fatal: (error: Error) => void;
}

/** The process as the runtime uses it (the real one by default; tests pass a fake). */
export interface ProcessPort {
  on(signal: 'SIGTERM' | 'SIGINT', listener: () => void): unknown;
  exit(code: number): void;
  readonly env: Record<string, string | undefined>;
  readonly stderr: { write(text: string): unknown };
}

export interface WorkerOptions {
  /** the app's name: its logger's, and the prefix of a start-up error on stderr */
  name: string;
  /** builds and starts the app; resolves once it serves */
  start(context: WorkerContext): Promise<Stoppable>;
  /** how long a graceful stop may take before the process exits 1 anyway, ms */
  graceMs(settings: Settings): number;
  process?: ProcessPort;
}

/** A start-up error as the operator reads it: a ConfigError's message alone, anything else with its stack. */
function errorText(e: unknown): string {
  return e instanceof ConfigError ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e);
}

/**
 * One lifecycle for every app: settings from the environment (a ConfigError is printed without a
 * stack: it is the operator's to fix), one logger, start, then a single graceful stop on the first
 * SIGTERM or SIGINT (or a fatal error) bounded by a grace timer. A signal that arrives while the app
 * is still starting stops it as soon as it has started. Later signals are logged and ignored: a
 * Ctrl-C reaches both a supervisor and its children, and the stop already under way must finish.
 * Exit codes: 0 after a stop asked by a signal, 1 after a fatal error, a failed start, a failed stop
 * or an exceeded grace period.
 */
export async function runWorker(options: WorkerOptions): Promise<void> {
  const proc: ProcessPort = options.process ?? process;
  let settings: Settings;
  try {
    settings = loadSettings(proc.env);
  } catch (e) {
    proc.stderr.write(`${options.name}: ${errorText(e)}\n`);
    proc.exit(1);
    return;
  }
  const logger = createLogger(options.name, settings.logLevel);
  // the start under way or done (set below; a fatal error may be reported before start resolves)
  const run: { started?: Promise<Stoppable | undefined> } = {};
  let stopping = false;
  let failed = false;

  const shutdown = (code: number, why: string) => {
    if (stopping) {
      logger.warn({ why }, 'already shutting down; ignored');
      return;
    }
    stopping = true;
    const graceMs = options.graceMs(settings);
    logger.info({ why, graceMs }, 'shutting down');
    const guard = setTimeout(() => {
      logger.error({ graceMs }, 'shutdown grace period exceeded; exiting');
      proc.exit(1);
    }, graceMs);
    guard.unref?.();
    void (run.started ?? Promise.resolve(undefined))
      .then((app) => app?.stop())
      .then(
        () => {
          clearTimeout(guard);
          proc.exit(failed ? 1 : code);
        },
        (err: unknown) => {
          clearTimeout(guard);
          logger.error({ err }, 'shutdown failed');
          proc.exit(1);
        },
      );
  };
  proc.on('SIGTERM', () => shutdown(0, 'SIGTERM'));
  proc.on('SIGINT', () => shutdown(0, 'SIGINT'));

  const context: WorkerContext = { settings, logger, fatal: (e) => shutdown(1, `fatal: ${e.message}`) };
  run.started = options.start(context).catch((e: unknown) => {
    failed = true;
    logger.error({ err: e }, 'start failed');
    proc.stderr.write(`${options.name}: ${errorText(e)}\n`);
    if (!stopping) {
      stopping = true;
      proc.exit(1);
    }
    return undefined;
  });
  await run.started;
}
