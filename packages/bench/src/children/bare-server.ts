// A profile-read reference (the baseline is profile-bare-route.ts): the platform's base Fastify
// app alone (same hooks and Node flags, none of profile-service's plugins, connections or workers)
// with the same bare route (bare-route.ts) at /v1/profiles/:id. It shows what the service's
// process itself costs on top of the platform, apart from what the cache path costs.
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
