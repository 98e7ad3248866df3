// The profile-read baseline, in its own process: the platform's base Fastify app alone (same hooks
// and Node flags as a service, none of profile-service's plugins, connections or workers) with the
// bare route (bare-route.ts) at /v1/profiles/:id, so a hit rate over it is what profile-service's
// cache path and process cost on top of the platform.
import { createApp, runServer } from '@app/platform';
import { addBareRoute } from './bare-route.js';

await runServer({
  build: async () => {
    const app = createApp({
      name: 'bench-bare',
      logger: { level: process.env.LOG_LEVEL ?? 'warn' },
    });
    addBareRoute(app, '/v1/profiles/:id');
    return app;
  },
  port: Number(process.env.PORT ?? 0),
  host: process.env.HOST ?? '127.0.0.1',
});
