// The profile-read baseline: profile-service itself, built by its own buildApp from the same
// environment (same plugins, connections to Postgres, Redis and NATS, background workers, hooks,
// Node flags and pinning), with one more route, GET /bench/bare/:id (bare-route.ts). The gap
// between this route and GET /v1/profiles/:id in the same kind of process is what the cache path
// costs. (bare-server.ts is the platform's app alone: a lighter process, kept as a reference.)
import { runServer } from '@app/platform';
import { buildApp, profileConfig } from '@app/profile-service';
import { addBareRoute } from './bare-route.js';

const config = profileConfig(process.env);
await runServer({
  build: async () => {
    const app = await buildApp(config);
    addBareRoute(app, '/bench/bare/:id');
    return app;
  },
  port: config.PORT,
  host: config.HOST,
});
