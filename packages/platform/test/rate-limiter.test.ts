// The shared Redis rate limiter: counts per rule and key across instances (as replicas would),
// answers 429 RATE_LIMITED with Retry-After, peeks without counting, and lets requests through
// when Redis is down.
import { isolatedRedis } from '@app/testing';
import t, { type Test } from 'tap';
import { createApp, rateLimiterPlugin, redisPlugin, type App } from '../src/index.js';

async function appWithLimiter(
  t: Test,
  url: string,
  keyPrefix: string,
  redisUp = true,
): Promise<App> {
  const app = createApp({ name: 'demo', logger: false });
  t.teardown(() => app.close());
  await app.register(redisPlugin, { url, keyPrefix, required: false, connectTimeoutMs: 300 });
  await app.register(rateLimiterPlugin);
  const rule = { name: 'hello', max: 3, windowMs: 60_000 };
  app.get('/hello', async (request, reply) => {
    await app.rateLimiter.enforce(rule, request.ip, reply);
    return { hello: 'world' };
  });
  await app.ready();
  if (!redisUp) return app;
  // required:false connects in the background; the limit must count from the first request.
  if (app.redis.status !== 'ready') await new Promise((r) => app.redis.once('ready', r));
  return app;
}

void t.test('a limit shared by two instances, then 429 with Retry-After', async (t) => {
  const redis = await isolatedRedis(t);
  const a = await appWithLimiter(t, redis.url, redis.prefix);
  const b = await appWithLimiter(t, redis.url, redis.prefix);
  const statuses = [];
  for (const app of [a, b, a]) statuses.push((await app.inject({ url: '/hello' })).statusCode);
  t.same(statuses, [200, 200, 200], 'three allowed across two instances');
  const limited = await b.inject({ url: '/hello' });
  t.equal(limited.statusCode, 429);
  t.match(limited.headers['content-type'], /^application\/problem\+json/);
  t.match(limited.headers['retry-after'], /^\d+$/);
  t.ok(Number(limited.headers['retry-after']) >= 1 && Number(limited.headers['retry-after']) <= 60);
  t.match(limited.json(), { status: 429, code: 'RATE_LIMITED', retryAfterSeconds: Number });
  const ttl = await redis.client.pttl(`${redis.prefix}rl:hello:127.0.0.1`);
  t.ok(ttl > 0 && ttl <= 60_000, 'the counter expires with its window');
});

void t.test('peek does not count; hit does', async (t) => {
  const redis = await isolatedRedis(t);
  const app = await appWithLimiter(t, redis.url, redis.prefix);
  const rule = { name: 'failures', max: 2, windowMs: 10_000 };
  t.match(await app.rateLimiter.peek(rule, 'k'), { allowed: true, count: 0 });
  t.match(await app.rateLimiter.hit(rule, 'k'), { allowed: true, count: 1 });
  t.match(await app.rateLimiter.peek(rule, 'k'), { allowed: true, count: 1 });
  t.match(await app.rateLimiter.hit(rule, 'k'), { allowed: true, count: 2 });
  const blocked = await app.rateLimiter.peek(rule, 'k');
  t.match(blocked, { allowed: false, count: 2 });
  t.ok(blocked.retryAfterSeconds >= 1 && blocked.retryAfterSeconds <= 10);
  t.match(await app.rateLimiter.peek(rule, 'other'), { allowed: true }, 'keys are separate');
  await t.rejects(app.rateLimiter.hit({ name: 'Bad Name', max: 1, windowMs: 1 }, 'k'), /rule name/);
});

void t.test('Redis down: requests go through (fails open)', async (t) => {
  const app = await appWithLimiter(t, 'redis://127.0.0.1:1', 'x:', false);
  for (let i = 0; i < 5; i++) {
    t.equal((await app.inject({ url: '/hello' })).statusCode, 200, `request ${i + 1}`);
  }
});
