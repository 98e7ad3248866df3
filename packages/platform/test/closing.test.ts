// Between the start of close and the listener closing (while preClose hooks run, e.g. readiness
// turning 503 for the balancer), a new request still reaches the app. It is answered with a
// problem+json 503 telling the client to retry elsewhere, not with Fastify's bare 503.
import t from 'tap';
import { createApp } from '../src/index.js';

void t.test(
  'a request arriving while the app closes: 503 problem+json with Retry-After',
  async (t) => {
    const app = createApp({ name: 'demo', logger: false });
    app.get('/fast', async () => ({ ok: true }));
    let duringClose: Response | undefined;
    let body: unknown;
    // Registered after the platform's own preClose hooks, so it runs once closing has begun.
    app.addHook('preClose', async () => {
      duringClose = await fetch(`${base}/fast`);
      body = await duringClose.json();
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as { port: number };
    const base = `http://127.0.0.1:${port}`;

    const before = await fetch(`${base}/fast`);
    t.equal(before.status, 200, 'served before close');
    await before.arrayBuffer();

    await app.close();
    t.equal(duringClose?.status, 503);
    t.match(duringClose?.headers.get('content-type'), /^application\/problem\+json/);
    t.equal(duringClose?.headers.get('retry-after'), '1');
    t.equal(duringClose?.headers.get('connection'), 'close');
    t.match(body, { status: 503, code: 'SHUTTING_DOWN', title: 'This instance is shutting down' });
  },
);
