// Redis down or slow: reads answer from Postgres marked BYPASS and never 5xx, the breaker stops
// waiting on Redis and recovers by itself when Redis returns; readiness ignores Redis; a bulkhead
// answers 503 + Retry-After beyond its cap of concurrent database reads.
import { randomUUID } from 'node:crypto';
import { startRedisServer, startTcpProxy } from '@app/testing';
import t from 'tap';
import { build, gate, metricValue, testEnv, waitFor } from './helper.js';

void t.test('Redis stopped during a stream of reads, then back', async (t) => {
  const redis = await startRedisServer();
  t.teardown(() => redis.close());
  const { app, env: h } = await build(t, {
    vars: {
      REDIS_URL: redis.url,
      PROFILE_REDIS_TIMEOUT_MS: '500',
      PROFILE_BREAKER_OPEN_MS: '200',
    },
  });
  const ids = [await h.createUser('One'), await h.createUser('Two')];
  for (const id of ids) await app.inject({ method: 'GET', url: `/v1/profiles/${id}` });
  const warm = await app.inject({ method: 'GET', url: `/v1/profiles/${ids[0]}` });
  t.equal(warm.headers['x-cache'], 'HIT', 'cached while Redis is up');

  const statuses: number[] = [];
  let reading = true;
  const background = (async () => {
    for (let i = 0; reading; i++) {
      const res = await app.inject({ method: 'GET', url: `/v1/profiles/${ids[i % 2]}` });
      statuses.push(res.statusCode);
    }
  })();

  await redis.stop();
  const during: string[] = [];
  for (let i = 0; i < 60; i++) {
    const res = await app.inject({ method: 'GET', url: `/v1/profiles/${ids[i % 2]}` });
    statuses.push(res.statusCode);
    t.equal(res.statusCode, 200);
    during.push(String(res.headers['x-cache']));
  }
  t.same([...new Set(during)], ['BYPASS'], 'every read while Redis is down is a BYPASS');
  // While Redis stays down the breaker cycles: open for PROFILE_BREAKER_OPEN_MS, then half-open
  // with one probe in flight (up to the command timeout), then open again. One reading may catch
  // either phase on a loaded machine; it is never closed, and it does reach open.
  t.not(await metricValue(app, 'profile_cache_breaker_state'), 0, 'breaker not closed');
  await waitFor('the breaker to read open (2)', async () => {
    return (await metricValue(app, 'profile_cache_breaker_state')) === 2;
  });
  const ready = await app.inject({ method: 'GET', url: '/health/ready' });
  t.equal(ready.statusCode, 200, 'readiness does not depend on Redis');
  const batch = await app.inject({ method: 'GET', url: `/v1/profiles?ids=${ids.join(',')}` });
  t.equal(batch.statusCode, 200);
  t.equal(batch.headers['x-cache'], 'BYPASS');

  await redis.start();
  // No restart of the app: the client reconnects and the breaker's half-open probe closes it.
  await waitFor('HITs to resume', async () => {
    const res = await app.inject({ method: 'GET', url: `/v1/profiles/${ids[0]}` });
    statuses.push(res.statusCode);
    return res.headers['x-cache'] === 'HIT';
  });
  reading = false;
  await background;
  t.equal(statuses.filter((s) => s >= 500).length, 0, `0 of ${statuses.length} responses were 5xx`);
  t.equal(await metricValue(app, 'profile_cache_breaker_state'), 0, 'breaker closed again');
  t.ok((await metricValue(app, 'profile_cache_bypasses_total')) >= 60, 'bypasses counted');
});

void t.test(
  'a slow Redis is not waited on: the command timeout turns it into BYPASS',
  async (t) => {
    const h = await testEnv(t);
    const target = new URL(h.vars.REDIS_URL!);
    const proxy = await startTcpProxy({
      targetHost: target.hostname,
      targetPort: Number(target.port || 6379),
    });
    t.teardown(() => proxy.close());
    const { app } = await build(t, {
      env: h,
      vars: { REDIS_URL: proxy.urlFor(h.vars.REDIS_URL!), PROFILE_REDIS_TIMEOUT_MS: '150' },
    });
    const id = await h.createUser('Slow');
    await app.inject({ method: 'GET', url: `/v1/profiles/${id}` });
    t.equal(
      (await app.inject({ method: 'GET', url: `/v1/profiles/${id}` })).headers['x-cache'],
      'HIT',
    );

    // Redis now answers after a minute: a HIT would mean the read waited for it, BYPASS that the
    // command timeout gave up on it and the answer came from Postgres.
    proxy.setLatency(60_000);
    const started = Date.now();
    const res = await app.inject({ method: 'GET', url: `/v1/profiles/${id}` });
    t.equal(res.statusCode, 200);
    t.equal(res.headers['x-cache'], 'BYPASS', 'answered without waiting for Redis');
    t.comment(`answered in ${Date.now() - started} ms`);
    proxy.setLatency(0);
  },
);

void t.test(
  'the bulkhead caps concurrent database reads: 503 with Retry-After beyond it',
  async (t) => {
    const h = await testEnv(t);
    const slowId = await h.createUser('Held');
    const otherId = await h.createUser('Other');
    const reached = gate();
    const release = gate();
    const { app } = await build(t, {
      env: h,
      vars: { PROFILE_DB_MAX_CONCURRENT: '1', PROFILE_DB_MAX_QUEUE: '0' },
      deps: {
        afterDbRead: async (ids) => {
          if (!ids.includes(slowId)) return;
          reached.open();
          await release.wait;
        },
      },
    });
    const held = app.inject({ method: 'GET', url: `/v1/profiles/${slowId}` });
    await reached.wait;
    const refused = await app.inject({ method: 'GET', url: `/v1/profiles/${otherId}` });
    t.equal(refused.statusCode, 503);
    t.equal(refused.headers['retry-after'], '1');
    t.equal(refused.headers['content-type'], 'application/problem+json');
    t.equal(refused.json().code, 'OVERLOADED');
    t.equal(await metricValue(app, 'profile_bulkhead_rejections_total'), 1);
    release.open();
    t.equal((await held).statusCode, 200);
    const later = await app.inject({ method: 'GET', url: `/v1/profiles/${otherId}` });
    t.equal(later.statusCode, 200, 'served once the slot is free');
    const unknown = await app.inject({ method: 'GET', url: `/v1/profiles/${randomUUID()}` });
    t.equal(unknown.statusCode, 404);
  },
);
