// The profile-read baseline: profile-service itself, built by its own buildApp from the same
// environment (same plugins, connections to Postgres, Redis and NATS, background workers, hooks,
// Node flags and pinning), with one more route, GET /bench/bare/:id, that answers with the JSON
// the service gives for that id, from a Map in memory, and does nothing else: no schema, no
// cache, no extra headers. (Each id its own body, as the service sends: one constant string for
// every id measured 3-4% faster than distinct strings, a difference no real route has.) The gap
// between this route and GET /v1/profiles/:id in the same kind of process is what the cache path
// costs. (bare-server.ts is the platform's app alone: a lighter process, kept as a reference.)
import { readFileSync } from 'node:fs';
import { runServer } from '@app/platform';
import { buildApp, profileConfig } from '@app/profile-service';

const bodyFile = process.env.BENCH_BODY_FILE;
if (!bodyFile) throw new Error('BENCH_BODY_FILE must name a JSON file: { id: body }');
// id -> the JSON the service answers for it, held as strings and sent as they are.
const bodies = new Map(
  Object.entries(JSON.parse(readFileSync(bodyFile, 'utf8')) as Record<string, string>),
);

const config = profileConfig(process.env);
await runServer({
  build: async () => {
    const app = await buildApp(config);
    app.get<{ Params: { id: string } }>('/bench/bare/:id', async (request, reply) => {
      const body = bodies.get(request.params.id);
      if (body === undefined) return reply.code(404).send();
      return reply.type('application/json; charset=utf-8').send(body);
    });
    return app;
  },
  port: config.PORT,
  host: config.HOST,
});
