// The profile-read baseline: profile-service itself, built by its own buildApp from the same
// environment (same plugins, connections to Postgres, Redis and NATS, background workers, hooks,
// Node flags and pinning), with one more route, GET /bench/bare/:id, that answers the JSON of a
// real profile from memory and does nothing else: no schema, no cache, no extra headers. The gap
// between this route and GET /v1/profiles/:id in the same kind of process is what the cache path
// costs. (bare-server.ts is the platform's app alone: a lighter process, kept as a reference.)
import { readFileSync } from 'node:fs';
import { runServer } from '@app/platform';
import { buildApp, profileConfig } from '@app/profile-service';

const bodyFile = process.env.BENCH_BODY_FILE;
if (!bodyFile) throw new Error('BENCH_BODY_FILE must name a file holding the JSON to serve');
const body = readFileSync(bodyFile, 'utf8');
JSON.parse(body); // refuse to start on a body that is not JSON

const config = profileConfig(process.env);
await runServer({
  build: async () => {
    const app = await buildApp(config);
    app.get('/bench/bare/:id', async (_request, reply) =>
      reply.type('application/json; charset=utf-8').send(body),
    );
    return app;
  },
  port: config.PORT,
  host: config.HOST,
});
