import { loadSettings } from '@doubletap/config';
import { createLogger } from '@doubletap/observability';
import { ProjectorApp } from './projector.app';

async function main(): Promise<void> {
  const settings = loadSettings();
  const logger = createLogger('projector', settings.logLevel);
  const app = new ProjectorApp(settings, { logger });
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
