import { loadSettings } from '@doubletap/config';
import { createLogger } from '@doubletap/observability';
import { AggregatorApp } from './aggregator.app';

/** Crash tests only: SIGKILL this process at the Nth time it passes a point (env var = N). */
function killAt(variable: string, where: string): ((partition: number, count: number) => void) | undefined {
  const n = Number(process.env[variable] ?? 0);
  if (!(n > 0)) return undefined;
  return (partition, count) => {
    if (count < n) return;
    process.stderr.write(`${JSON.stringify({ level: 'warn', partition, count, msg: `fault injection: SIGKILL ${where}` })}\n`);
    process.kill(process.pid, 'SIGKILL');
  };
}

async function main(): Promise<void> {
  const settings = loadSettings();
  const logger = createLogger('aggregator', settings.logLevel);
  const running: { app?: AggregatorApp } = {};
  const exit = (code: number, why: string) => {
    logger.info({ why }, 'shutting down');
    const guard = setTimeout(() => process.exit(1), 30000);
    guard.unref();
    void (running.app ? running.app.stop() : Promise.resolve()).finally(() => process.exit(code));
  };
  running.app = await AggregatorApp.start(settings, {
    logger,
    onFatal: (e) => exit(1, e.message),
    faults: {
      afterOutput: killAt('DOUBLETAP_FAULT_KILL_AFTER_OUTPUTS', 'after an output transaction, before its store write'),
      afterCommit: killAt('DOUBLETAP_FAULT_KILL_AFTER_COMMITS', 'after a store write'),
    },
  });
  process.once('SIGTERM', () => exit(0, 'SIGTERM'));
  process.once('SIGINT', () => exit(0, 'SIGINT'));
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exit(1);
});
