// Reads: cache-aside with x-cache, TTL on every key, ETag / 304, the batch route, validation before
// any I/O, and versioned keys.
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { build, metricValue } from './helper.js';

void t.test('profile reads', async (t) => {
  const { app, env: h } = await build(t);
  const ada = await h.createUser('Ada');

  await t.test('MISS then HIT, and the key has a TTL', async (t) => {
    const first = await app.inject({ method: 'GET', url: `/v1/profiles/${ada}` });
    t.equal(first.statusCode, 200);
    t.equal(first.headers['x-cache'], 'MISS');
    t.match(first.json(), { id: ada, displayName: 'Ada', bio: null, avatarUrl: null, version: 1 });
    t.match(first.headers['cache-control'], /public/);
    t.ok(first.headers.etag, 'has an ETag');

    const second = await app.inject({ method: 'GET', url: `/v1/profiles/${ada}` });
    t.equal(second.statusCode, 200);
    t.equal(second.headers['x-cache'], 'HIT');
    t.same(second.json(), first.json());
    t.equal(second.body, first.body, 'a hit sends the body the miss answered, byte for byte');
    t.equal(second.headers['content-type'], 'application/json; charset=utf-8');

    const keys = await h.scanKeys(`${h.redisPrefix}*`);
    t.ok(keys.length > 0, 'keys written');
    for (const key of keys) {
      const ttl = await h.redis.pttl(key);
      t.ok(ttl > 0, `${key} has a TTL (${ttl} ms)`);
    }
    t.ok(keys.includes(`${h.redisPrefix}profile:v1:{${ada}}`), 'key is profile:v<N>:{<id>}');
    t.equal(await metricValue(app, 'profile_cache_hits_total'), 1);
    t.equal(await metricValue(app, 'profile_cache_misses_total'), 1);
    const metrics = await app.inject({ method: 'GET', url: '/metrics' });
    for (const name of [
      'profile_cache_hits_total',
      'profile_cache_misses_total',
      'profile_cache_bypasses_total',
      'profile_cache_stale_serves_total',
      'profile_cache_fills_total',
      'profile_cache_lease_waits_total',
      'profile_cache_breaker_state',
    ]) {
      t.match(metrics.body, name, `/metrics has ${name}`);
    }
  });

  await t.test('If-None-Match with the ETag answers 304; another ETag 200', async (t) => {
    const res = await app.inject({ method: 'GET', url: `/v1/profiles/${ada}` });
    const etag = res.headers.etag as string;
    const notModified = await app.inject({
      method: 'GET',
      url: `/v1/profiles/${ada}`,
      headers: { 'if-none-match': etag },
    });
    t.equal(notModified.statusCode, 304);
    t.equal(notModified.body, '');
    t.equal(notModified.headers.etag, etag);
    const other = await app.inject({
      method: 'GET',
      url: `/v1/profiles/${ada}`,
      headers: { 'if-none-match': '"1.999"' },
    });
    t.equal(other.statusCode, 200);
  });

  await t.test('the OpenAPI document lists the routes', async (t) => {
    const res = await app.inject({ method: 'GET', url: '/openapi.json' });
    t.equal(res.statusCode, 200);
    const paths = Object.keys(res.json<{ paths: Record<string, unknown> }>().paths);
    t.ok(paths.includes('/v1/profiles/{id}'), 'GET/PATCH /v1/profiles/{id}');
    t.ok(paths.includes('/v1/profiles'), 'GET /v1/profiles');
    const doc = res.json<{ paths: Record<string, Record<string, { security?: unknown }>> }>();
    t.same(
      doc.paths['/v1/profiles/{id}']?.patch?.security,
      [{ bearerAuth: [] }],
      'PATCH needs a token',
    );
  });

  await t.test('bad ids answer 400 before any I/O', async (t) => {
    const before = await metricValue(app, 'profile_db_reads_total');
    for (const url of ['/v1/profiles/not-a-uuid', '/v1/profiles?ids=abc', '/v1/profiles']) {
      const res = await app.inject({ method: 'GET', url });
      t.equal(res.statusCode, 400, url);
      t.equal(res.headers['content-type'], 'application/problem+json');
      t.equal(res.json().code, 'VALIDATION_FAILED');
    }
    const tooMany = Array.from({ length: 101 }, () => randomUUID()).join(',');
    const res = await app.inject({ method: 'GET', url: `/v1/profiles?ids=${tooMany}` });
    t.equal(res.statusCode, 400, '101 ids');
    t.equal(await metricValue(app, 'profile_db_reads_total'), before, 'no database read');
  });

  await t.test('batch: one database query for the misses, then all HIT', async (t) => {
    const bob = await h.createUser('Bob');
    const cy = await h.createUser('Cy');
    const nobody = randomUUID();
    const before = await metricValue(app, 'profile_db_reads_total');
    const url = `/v1/profiles?ids=${ada},${bob},${cy},${nobody}`;
    const first = await app.inject({ method: 'GET', url });
    t.equal(first.statusCode, 200);
    t.equal(first.headers['x-cache'], 'MISS');
    const body = first.json<{
      profiles: Array<{ id: string; displayName: string }>;
      missing: string[];
    }>();
    t.same(
      body.profiles.map((p) => p.displayName),
      ['Ada', 'Bob', 'Cy'],
    );
    t.same(body.missing, [nobody]);
    t.equal(await metricValue(app, 'profile_db_reads_total'), before + 1, 'one query');

    const second = await app.inject({ method: 'GET', url });
    t.equal(second.headers['x-cache'], 'HIT');
    t.same(second.json(), body);
    t.equal(await metricValue(app, 'profile_db_reads_total'), before + 1, 'no more queries');
    const notModified = await app.inject({
      method: 'GET',
      url,
      headers: { 'if-none-match': second.headers.etag as string },
    });
    t.equal(notModified.statusCode, 304);
  });

  await t.test(
    'bumping the key version makes old entries unreachable, without a flush',
    async (t) => {
      const v1Key = `${h.redisPrefix}profile:v1:{${ada}}`;
      t.ok(await h.redis.exists(v1Key), 'the v1 entry exists');
      // Plant a value only reachable through v1: if v2 read it, the name would show.
      const raw = (await h.redis.get(v1Key))!;
      await h.redis.set(v1Key, raw.replace('"Ada"', '"Old shape"'), 'KEEPTTL');
      const v1 = await app.inject({ method: 'GET', url: `/v1/profiles/${ada}` });
      t.equal(v1.json().displayName, 'Old shape', 'v1 app reads the v1 entry');

      const { app: v2app } = await build(t, {
        env: h,
        vars: { PROFILE_CACHE_SCHEMA_VERSION: '2' },
      });
      const res = await v2app.inject({ method: 'GET', url: `/v1/profiles/${ada}` });
      t.equal(res.headers['x-cache'], 'MISS', 'v2 does not see v1 entries');
      t.equal(res.json().displayName, 'Ada');
      const again = await v2app.inject({ method: 'GET', url: `/v1/profiles/${ada}` });
      t.equal(again.headers['x-cache'], 'HIT');
      t.ok(await h.redis.exists(`${h.redisPrefix}profile:v2:{${ada}}`), 'v2 key written');
      t.ok(await h.redis.exists(v1Key), 'nothing was flushed');
      t.not(res.headers.etag, v1.headers.etag, 'ETags differ across shapes');
    },
  );
});
