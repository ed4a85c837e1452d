import { loadSettings } from '@doubletap/config';
import { createLogger } from '@doubletap/observability';
import { AggregatorApp } from './aggregator.app';

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
  // crash tests only: SIGKILL this process right after its Nth atomic store write, before CountChanged is sent
  const killAfter = Number(process.env.DOUBLETAP_FAULT_KILL_AFTER_COMMITS ?? 0);
  running.app = await AggregatorApp.start(settings, {
    logger,
    onFatal: (e) => exit(1, e.message),
    afterCommit:
      killAfter > 0
        ? (partition, commits) => {
            if (commits < killAfter) return;
            logger.warn({ partition, commits }, 'fault injection: SIGKILL after store commit');
            process.kill(process.pid, 'SIGKILL');
          }
        : undefined,
  });
  process.once('SIGTERM', () => exit(0, 'SIGTERM'));
  process.once('SIGINT', () => exit(0, 'SIGINT'));
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exit(1);
});
