import { runWorker } from '@doubletap/runtime';
import { ProjectorApp } from './projector.app';

void runWorker({
  name: 'projector',
  graceMs: () => 30000,
  start: async ({ settings, logger }) => {
    const app = new ProjectorApp(settings, { logger, progressCheckMs: settings.projector.progressCheckMs });
    await app.start();
    return app;
  },
});
