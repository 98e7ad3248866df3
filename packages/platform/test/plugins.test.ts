import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { setTimeout } from 'node:timers/promises';
import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import t from 'tap';
import { createApp, natsPlugin, NatsUnavailableError, redisPlugin } from '../src/index.js';
import { startNatsServer } from '@app/testing';
import { logSink, NATS_URL, REDIS_URL } from './helpers.js';

void t.test('redis: connects, prefixes keys, answers readiness and quits on close', async (t) => {
  const prefix = `test:platform:${randomBytes(6).toString('hex')}:`;
  const admin = new Redis(REDIS_URL);
  t.teardown(async () => {
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length > 0) await admin.del(...keys);
    await admin.quit();
  });
  const app = createApp({ name: 'demo', logger: false, readiness: {} });
  await app.register(redisPlugin, { url: REDIS_URL, keyPrefix: prefix });
  app.readiness.add('redis', () => app.redis.ping());
  await app.ready();

  await app.redis.set('greeting', 'hello', 'EX', 60);
  t.equal(await admin.get(`${prefix}greeting`), 'hello', 'the key carries the prefix');
  const ready = await app.inject({ method: 'GET', url: '/health/ready' });
  t.same(ready.json(), { status: 'ok', checks: { redis: 'ok' } });

  await app.close();
  if (app.redis.status !== 'end') {
    await Promise.race([
      once(app.redis, 'end'),
      setTimeout(2000).then(() => Promise.reject(new Error('redis did not end'))),
    ]);
  }
  t.equal(app.redis.status, 'end', 'the connection is closed');
});

void t.test('redis: a dead URL fails start-up when required', async (t) => {
  const app = createApp({ name: 'demo', logger: false });
  void app.register(redisPlugin, { url: 'redis://127.0.0.1:1', connectTimeoutMs: 500 });
  await t.rejects(async () => {
    await app.ready();
  }, /Redis at redis:\/\/127\.0\.0\.1:1 is unreachable/);
  await app.close();
});

void t.test('redis: required:false starts with Redis down and fails commands fast', async (t) => {
  const sink = logSink();
  const app = createApp({ name: 'demo', logStream: sink.stream });
  t.teardown(() => app.close());
  await app.register(redisPlugin, {
    url: 'redis://:s3cret@127.0.0.1:1',
    required: false,
    connectTimeoutMs: 300,
  });
  app.readiness.add('redis', () => app.redis.ping());
  await app.ready();

  // ioredis refuses at once rather than queueing until commandTimeout: its message says which.
  await t.rejects(
    app.redis.get('anything'),
    /enableOfflineQueue/,
    'a command fails at once instead of queueing',
  );
  const ready = await app.inject({ method: 'GET', url: '/health/ready' });
  t.equal(ready.statusCode, 503);
  t.match(ready.json(), { checks: { redis: 'failed' } });
  await sink.waitFor((l) => l.plugin === 'redis' && l.level === 'warn');
  t.notMatch(sink.text(), 's3cret', 'the Redis password is never logged');
});

void t.test('nats: connects, exposes JetStream, pings, and drains on close', async (t) => {
  const sink = logSink();
  const app = createApp({ name: 'demo', logStream: sink.stream });
  await app.register(natsPlugin, { servers: NATS_URL, name: 'platform-test' });
  app.readiness.add('nats', () => app.nats.ping());
  await app.ready();
  await sink.waitFor((l) => l.msg === 'nats connected');

  t.ok(app.nats.connected);
  t.ok('publish' in app.nats.js, 'a JetStream client');
  t.type((await app.nats.jsm.getAccountInfo()).limits, 'object');
  t.same((await app.inject({ method: 'GET', url: '/health/ready' })).json(), {
    status: 'ok',
    checks: { nats: 'ok' },
  });

  // Messages published just before close still arrive: close drains instead of dropping them.
  const subject = `t_platform.drain.${randomBytes(4).toString('hex')}`;
  const observer = await connect({ servers: NATS_URL });
  t.teardown(() => observer.close());
  const sub = observer.subscribe(subject, { max: 500, timeout: 5000 });
  await observer.flush();
  for (let i = 0; i < 500; i++) app.nats.nc.publish(subject, String(i));
  const nc = app.nats.nc;
  await app.close();
  t.ok(nc.isClosed(), 'the connection is closed after app.close()');
  let received = 0;
  for await (const _m of sub) received++;
  t.equal(received, 500, 'every message published before close was delivered');
  await sink.waitFor((l) => l.msg === 'nats drained');
});

void t.test('nats: a dead server fails start-up when required', async (t) => {
  const app = createApp({ name: 'demo', logger: false });
  void app.register(natsPlugin, {
    servers: 'nats://127.0.0.1:1',
    name: 'platform-test',
    connectTimeoutMs: 500,
  });
  await t.rejects(async () => {
    await app.ready();
  }, /NATS at nats:\/\/127\.0\.0\.1:1 is unreachable/);
  await app.close();
});

void t.test('nats: required:false starts without NATS and reports not ready', async (t) => {
  const app = createApp({ name: 'demo', logger: false });
  await app.register(natsPlugin, {
    servers: 'nats://127.0.0.1:1',
    name: 'platform-test',
    required: false,
  });
  app.readiness.add('nats', () => app.nats.ping());
  await app.ready();
  t.equal(app.nats.connected, false);
  t.throws(() => app.nats.js, NatsUnavailableError);
  const ready = await app.inject({ method: 'GET', url: '/health/ready' });
  t.equal(ready.statusCode, 503);
  t.match(ready.json(), { checks: { nats: 'failed' } });
  await app.close();
  // Closing stops the background connect loop, so the connect promise settles.
  await app.nats.whenConnected();
});

void t.test(
  'nats: required:false keeps trying when the server answers but JetStream does not',
  async (t) => {
    // A server without JetStream: the connection opens, jetstreamManager() fails. The plugin must
    // retry (a JetStream-enabled server may come back), not give up for the life of the service.
    const server = await startNatsServer({ jetstream: false });
    t.teardown(() => server.close());
    const logs = logSink();
    const app = createApp({ name: 'demo', logStream: logs.stream });
    await app.register(natsPlugin, { servers: server.url, name: 'platform-test', required: false });
    await app.ready();
    const isRetry = (l: Record<string, unknown>) =>
      l.msg === 'nats not usable yet; retrying' && typeof l.attempt === 'number' && l.attempt >= 2;
    await logs.waitFor(isRetry, 15_000);
    t.equal(app.nats.connected, false, 'not usable while JetStream does not answer');
    t.notOk(
      logs.lines.some((l) => l.msg === 'nats gave up connecting'),
      'never gives up',
    );
    await app.close();
    await app.nats.whenConnected().catch(() => undefined);
  },
);
