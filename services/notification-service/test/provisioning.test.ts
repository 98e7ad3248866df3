// The service provisions no stream or consumer (that needs stream-admin rights; the provision Job
// and `pnpm start` do it): started before its topology exists, it listens, says in its log that it
// is waiting, answers not ready, creates nothing, and starts consuming once the topology appears.
import { PassThrough } from 'node:stream';
import t from 'tap';
import { build, provisionTopology, publishSignups, testEnv, waitUntil } from './helper.js';

void t.test('started before provisioning: waits, not ready, then consumes', async (t) => {
  const env = await testEnv(t, {}, { provisioned: false });
  const logs: string[] = [];
  const logStream = new PassThrough();
  logStream.on('data', (chunk: Buffer) => logs.push(...chunk.toString().split('\n')));
  const { app } = await build(t, { env, deps: { logger: { level: 'info' }, logStream } });

  await waitUntil('the waiting line', () => logs.some((l) => /waiting for the JetStream/.test(l)));
  const notReady = await app.inject({ url: '/health/ready' });
  t.equal(notReady.statusCode, 503);
  t.match(notReady.json(), { code: 'NOT_READY', checks: { consumers: 'failed', nats: 'ok' } });
  await t.rejects(
    env.nats.jsm.streams.info(env.names.streams.users),
    'the service created no stream',
  );

  await provisionTopology(env);
  await waitUntil(
    'readiness',
    async () => (await app.inject({ url: '/health/ready' })).statusCode === 200,
  );
  const [signup] = await publishSignups(env.nats.js, env.names, 1);
  const [email] = await env.sink.waitFor(1, 30_000);
  t.equal(email?.envelopeTo[0], signup?.event.data.email, 'consuming once provisioned');
});
