// Between the start of close and the listener closing (while preClose hooks run, e.g. readiness
// turning 503 for the balancer), a new request still reaches the app. It is answered with a
// problem+json 503 telling the client to retry elsewhere, not with Fastify's bare 503.
import http from 'node:http';
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

void t.test(
  'a request in flight when close begins: answered in full with Connection: close, and close() does not wait on its kept-alive connection',
  async (t) => {
    const app = createApp({ name: 'demo', logger: false });
    let release: () => void = () => undefined;
    let arrived: () => void = () => undefined;
    const inHandler = new Promise<void>((resolve) => (arrived = resolve));
    app.get('/slow', async () => {
      arrived();
      await new Promise<void>((resolve) => (release = resolve));
      return { ok: true };
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as { port: number };
    // A keep-alive client that never closes its idle connections itself (as a balancer's
    // upstream pool): before the fix, close() waited on it for the 72 s keep-alive timeout.
    const agent = new http.Agent({ keepAlive: true, keepAliveMsecs: 60_000 });
    t.teardown(() => agent.destroy());
    const answer = new Promise<{ status: number; connection: string | undefined; body: string }>(
      (resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port, path: '/slow', agent }, (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => (body += chunk));
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body }),
            );
          })
          .on('error', reject);
      },
    );
    await inHandler;
    const closed = app.close().then(() => 'closed' as const);
    // Answered once the listener has closed: node's server.close() has already ended the
    // connections idle at that moment, and this one is not.
    while (app.server.listening) await new Promise((resolve) => setTimeout(resolve, 5));
    release();
    const bound = new Promise<'still open'>((resolve) => {
      const timer = setTimeout(() => resolve('still open'), 30_000);
      void closed.then(() => clearTimeout(timer));
    });
    const res = await answer;
    t.same(res, { status: 200, connection: 'close', body: '{"ok":true}' }, 'answered in full');
    t.equal(await Promise.race([closed, bound]), 'closed', 'close() finished');
  },
);
