// A profile-read reference (the baseline is profile-bare-route.ts): the platform's base Fastify
// app alone (same hooks and Node flags, none of profile-service's plugins, connections or workers)
// with one route that answers each profile's JSON from a Map in memory. It shows what the service's
// process itself costs on top of the platform, apart from what the cache path costs.
import { readFileSync } from 'node:fs';
import { createApp, runServer } from '@app/platform';

const bodyFile = process.env.BENCH_BODY_FILE;
if (!bodyFile) throw new Error('BENCH_BODY_FILE must name a JSON file: { id: body }');
// id -> the JSON the service answers for it, held as strings and sent as they are.
const bodies = new Map(
  Object.entries(JSON.parse(readFileSync(bodyFile, 'utf8')) as Record<string, string>),
);

await runServer({
  build: async () => {
    const app = createApp({
      name: 'bench-bare',
      logger: { level: process.env.LOG_LEVEL ?? 'warn' },
    });
    app.get<{ Params: { id: string } }>('/v1/profiles/:id', async (request, reply) => {
      const body = bodies.get(request.params.id);
      if (body === undefined) return reply.code(404).send();
      return reply.type('application/json; charset=utf-8').send(body);
    });
    return app;
  },
  port: Number(process.env.PORT ?? 0),
  host: process.env.HOST ?? '127.0.0.1',
});
