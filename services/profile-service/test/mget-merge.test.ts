// Concurrent reads share MGETs (platform's Batcher under the cache): counted against a private
// redis-server whose command statistics this test alone can read (INFO commandstats).
import { startRedisServer } from '@app/testing';
import { Redis } from 'ioredis';
import t from 'tap';
import { build, metricValue } from './helper.js';

/** Calls per command name since the last CONFIG RESETSTAT, from Redis itself. */
async function commandCalls(redis: Redis): Promise<Record<string, number>> {
  const info = await redis.info('commandstats');
  const calls: Record<string, number> = {};
  for (const m of info.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)) {
    calls[m[1] as string] = Number(m[2]);
  }
  return calls;
}

void t.test('concurrent cached reads merge into MGETs, each answered its own key', async (t) => {
  const server = await startRedisServer();
  t.teardown(() => server.close());
  const client = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
  await client.connect();
  t.teardown(() => client.disconnect());
  const { app, env } = await build(t, {
    vars: { REDIS_URL: server.url, PROFILE_LOCAL_CACHE: 'false' },
  });
  const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => env.createUser(`User ${i}`)));
  for (const id of ids) await app.inject({ method: 'GET', url: `/v1/profiles/${id}` });
  await client.config('RESETSTAT');
  const batchesBefore = await metricValue(app, 'profile_cache_get_batches_total');
  const keysBefore = await metricValue(app, 'profile_cache_get_batch_keys_total');

  // Each id twice, and a batch read of the first five among them.
  const [responses, batch] = await Promise.all([
    Promise.all(
      [...ids, ...ids].map((id) => app.inject({ method: 'GET', url: `/v1/profiles/${id}` })),
    ),
    app.inject({ method: 'GET', url: `/v1/profiles?ids=${ids.slice(0, 5).join(',')}` }),
  ]);
  t.same(
    [...new Set(responses.map((r) => `${r.statusCode} ${String(r.headers['x-cache'])}`))],
    ['200 HIT'],
  );
  t.same(
    responses.map((r) => r.json<{ id: string }>().id),
    [...ids, ...ids],
    'each response is the profile it asked for',
  );
  t.equal(batch.headers['x-cache'], 'HIT');
  t.same(
    batch.json<{ profiles: Array<{ displayName: string }> }>().profiles.map((p) => p.displayName),
    ['User 0', 'User 1', 'User 2', 'User 3', 'User 4'],
    'the batch read too',
  );
  const calls = await commandCalls(client);
  const batches = (await metricValue(app, 'profile_cache_get_batches_total')) - batchesBefore;
  const keys = (await metricValue(app, 'profile_cache_get_batch_keys_total')) - keysBefore;
  t.notOk(calls.get, 'no single GETs');
  t.ok(calls.mget !== undefined && calls.mget < 41, `41 reads took ${calls.mget} MGETs`);
  t.equal(batches, calls.mget, 'the batch counter matches what Redis saw');
  t.ok(
    keys >= 20 && keys <= 45,
    `the MGETs carried ${keys} keys (each distinct key once per MGET)`,
  );
});
