// Negative caching: an unknown id is a cached 404 until that user signs up; the profile-cache
// durable consumer clears it on user.signed_up, and the next read is a 200.
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { cacheKeys } from '../src/lib/cache-keys.js';
import { encodeNegative } from '../src/lib/entry.js';
import { FILL_SCRIPT } from '../src/lib/scripts.js';
import { build, metricValue } from './helper.js';

void t.test('unknown id: 404, cached; a signup clears it; the next read is 200', async (t) => {
  const { app, env: h } = await build(t);
  const keys = cacheKeys(h.redisPrefix);
  const id = randomUUID();

  const first = await app.inject({ method: 'GET', url: `/v1/profiles/${id}` });
  t.equal(first.statusCode, 404);
  t.equal(first.json().code, 'PROFILE_NOT_FOUND');
  t.equal(first.headers['x-cache'], 'MISS');
  const ttl = await h.redis.pttl(keys.entry(id));
  t.ok(ttl > 0 && ttl <= 30_000 * 1.1, `negative entry has a short TTL (${ttl} ms)`);

  // The user signs up: their row commits, but the 404 is still cached.
  await h.createUser('Newcomer', id);
  const cached = await app.inject({ method: 'GET', url: `/v1/profiles/${id}` });
  t.equal(cached.statusCode, 404, 'the 404 is served from the cache');
  t.equal(cached.headers['x-cache'], 'HIT');
  const readsBefore = await metricValue(app, 'profile_db_reads_total');

  await h.signedUp(id);
  const after = await app.inject({ method: 'GET', url: `/v1/profiles/${id}` });
  t.equal(after.statusCode, 200);
  t.equal(after.json().displayName, 'Newcomer');
  t.equal(await metricValue(app, 'profile_db_reads_total'), readsBefore + 1, 'read from Postgres');

  await t.test('a held "not found" read cannot put the 404 back after the signup', async (t) => {
    const late = randomUUID();
    await h.createUser('Late', late);
    const negative = encodeNegative(Date.now() + 30_000);
    await h.redis.set(keys.entry(late), negative, 'PX', 30_000);
    await h.signedUp(late);
    // A fill of "not found" (version 0) that read Postgres before the signup is refused.
    const stored = await FILL_SCRIPT.run(
      h.redis,
      [keys.entry(late), keys.lease(late)],
      ['0', negative, '30000', ''],
    );
    t.equal(stored, 0, 'the stale negative fill is refused');
    const res = await app.inject({ method: 'GET', url: `/v1/profiles/${late}` });
    t.equal(res.statusCode, 200);
  });
});
