import { ConfigError, loadSettings } from '@doubletap/config';
import { createApp } from './app';

async function main(): Promise<void> {
  const settings = loadSettings();
  const { app, logger } = await createApp(settings);
  app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
  process.once('SIGTERM', () => {
    logger.info({ graceMs: settings.api.shutdownGraceMs }, 'SIGTERM: draining');
    setTimeout(() => {
      logger.error('shutdown grace period exceeded; exiting');
      process.exit(1);
    }, settings.api.shutdownGraceMs).unref();
  });
  await app.listen(settings.api.port, settings.api.host);
  const url = await app.getUrl();
  logger.info({ url, port: Number(new URL(url).port) }, 'listening');
}

main().catch((e: unknown) => {
  // a configuration problem is the operator's to fix: its message names the variables, no stack
  const text = e instanceof ConfigError ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e);
  process.stderr.write(`api: ${text}\n`);
  process.exit(1);
});
