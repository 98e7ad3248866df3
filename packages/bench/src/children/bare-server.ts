// A profile-read reference (the baseline is profile-bare-route.ts): the platform's base Fastify
// app alone (same hooks and Node flags, none of profile-service's plugins, connections or workers)
// with one route that answers the JSON of a real profile from memory. It shows what the service's
// process itself costs on top of the platform, apart from what the cache path costs.
import { readFileSync } from 'node:fs';
import { createApp, runServer } from '@app/platform';

const bodyFile = process.env.BENCH_BODY_FILE;
if (!bodyFile) throw new Error('BENCH_BODY_FILE must name a file holding the JSON to serve');
const body = readFileSync(bodyFile, 'utf8');
JSON.parse(body); // refuse to start on a body that is not JSON

await runServer({
  build: async () => {
    const app = createApp({
      name: 'bench-bare',
      logger: { level: process.env.LOG_LEVEL ?? 'warn' },
    });
    app.get('/v1/profiles/:id', async (_request, reply) =>
      reply.type('application/json; charset=utf-8').send(body),
    );
    return app;
  },
  port: Number(process.env.PORT ?? 0),
  host: process.env.HOST ?? '127.0.0.1',
});
