// Negative caching: an unknown id is a cached 404 until that user signs up; the profile-cache
// durable consumer clears it on user.signed_up, and the next read is a 200.
import { randomUUID } from 'node:crypto';
import { makeEnvelope, names } from '@app/contracts';
import t from 'tap';
import { harness, metricValue, waitFor } from './helper.js';

void t.test('unknown id: 404, cached; a signup clears it; the next read is 200', async (t) => {
  const h = await harness(t);
  const app = await h.build();
  const n = names(h.nats.namespace);
  const id = randomUUID();

  const first = await app.inject({ method: 'GET', url: `/v1/profiles/${id}` });
  t.equal(first.statusCode, 404);
  t.equal(first.json().code, 'PROFILE_NOT_FOUND');
  t.equal(first.headers['x-cache'], 'MISS');
  const key = `${h.redisPrefix}profile:v1:${id}`;
  const ttl = await h.redis.pttl(key);
  t.ok(ttl > 0 && ttl <= 30_000 * 1.1, `negative entry has a short TTL (${ttl} ms)`);

  // The user signs up: their row commits, but the 404 is still cached.
  await h.createUser('Newcomer', id);
  const cached = await app.inject({ method: 'GET', url: `/v1/profiles/${id}` });
  t.equal(cached.statusCode, 404, 'the 404 is served from the cache');
  t.equal(cached.headers['x-cache'], 'HIT');
  const readsBefore = await metricValue(app, 'profile_db_reads_total');

  const event = makeEnvelope('user.signed_up', 1, {
    userId: id,
    email: `${id}@example.test`,
    displayName: 'Newcomer',
  });
  const ack = await h.nats.js.publish(n.subjects.userSignedUp, JSON.stringify(event), {
    msgID: event.id,
  });
  // Wait for the event itself: the durable consumer has acked it.
  await waitFor('profile-cache to ack the signup', async () => {
    const info = await h.nats.jsm.consumers.info(n.streams.users, n.consumers.profileCache);
    return info.ack_floor.stream_seq >= ack.seq;
  });

  const after = await app.inject({ method: 'GET', url: `/v1/profiles/${id}` });
  t.equal(after.statusCode, 200);
  t.equal(after.json().displayName, 'Newcomer');
  t.equal(await metricValue(app, 'profile_db_reads_total'), readsBefore + 1, 'read from Postgres');

  await t.test('a held "not found" read cannot put the 404 back after the signup', async (t) => {
    const late = randomUUID();
    await h.createUser('Late', late);
    await h.redis.set(
      `${h.redisPrefix}profile:v1:${late}`,
      `0|${Date.now() + 30_000}|`,
      'PX',
      30_000,
    );
    const signed = makeEnvelope('user.signed_up', 1, {
      userId: late,
      email: `${late}@example.test`,
      displayName: 'Late',
    });
    const a = await h.nats.js.publish(n.subjects.userSignedUp, JSON.stringify(signed), {
      msgID: signed.id,
    });
    await waitFor('profile-cache to ack', async () => {
      const info = await h.nats.jsm.consumers.info(n.streams.users, n.consumers.profileCache);
      return info.ack_floor.stream_seq >= a.seq;
    });
    // A fill of "not found" (version 0) that read Postgres before the signup is refused.
    const { FILL_SCRIPT } = await import('../src/lib/scripts.js');
    const stored = await h.redis.eval(
      FILL_SCRIPT,
      2,
      `${h.redisPrefix}profile:v1:${late}`,
      `${h.redisPrefix}profile:v1:${late}:lease`,
      '0',
      `0|${Date.now() + 30_000}|`,
      '30000',
      '',
    );
    t.equal(stored, 0, 'the stale negative fill is refused');
    const res = await app.inject({ method: 'GET', url: `/v1/profiles/${late}` });
    t.equal(res.statusCode, 200);
  });
});
