import { loadSettings } from '@doubletap/config';
import { createLogger } from '@doubletap/observability';
import { ProjectorApp } from './projector.app';

/** PROJECTOR_PROGRESS_CHECK_MS: the idle check of the progress in Redis (default 1000, 0 = off). */
function progressCheckMs(): number | undefined {
  const raw = process.env.PROJECTOR_PROGRESS_CHECK_MS;
  if (raw === undefined || raw === '') return undefined;
  const ms = Number(raw);
  if (!Number.isSafeInteger(ms) || ms < 0) throw new Error(`PROJECTOR_PROGRESS_CHECK_MS=${raw} is not a number of milliseconds`);
  return ms;
}

async function main(): Promise<void> {
  const settings = loadSettings();
  const logger = createLogger('projector', settings.logLevel);
  const app = new ProjectorApp(settings, { logger, progressCheckMs: progressCheckMs() });
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    app.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  await app.start();
}

main().catch((e: unknown) => {
  process.stderr.write(`projector: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
