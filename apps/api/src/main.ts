import { runWorker } from '@doubletap/runtime';
import { createApp } from './app';

void runWorker({
  name: 'api',
  // in-flight requests are answered and the producer's queue flushed before the process exits
  graceMs: (settings) => settings.api.shutdownGraceMs,
  start: async ({ settings, logger }) => {
    const { app } = await createApp(settings, logger);
    await app.listen(settings.api.port, settings.api.host);
    const url = await app.getUrl();
    logger.info({ url, port: Number(new URL(url).port) }, 'listening');
    return { stop: () => app.close() };
  },
});
