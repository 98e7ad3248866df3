// profile-service as the profile-read benchmark runs it: built by its own buildApp from the
// environment, exactly as src/server.ts does, with one more route, GET /bench/bare/:id
// (bare-route.ts). The bench's baseline for each instance is that bare route in the same process,
// so the ratio of GET /v1/profiles/:id over it is what the cache path costs, free of the few
// percent two processes of the same code differ by. (bare-server.ts is the platform's app alone:
// a lighter process, kept as a reference.)
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
