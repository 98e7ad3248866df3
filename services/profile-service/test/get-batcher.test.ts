// Concurrent reads share one MGET: against a private redis-server whose command counts this test
// alone can read (INFO commandstats), both for the batcher itself and for the service's reads.
import { startRedisServer } from '@app/testing';
import { Redis } from 'ioredis';
import t from 'tap';
import { GetBatcher } from '../src/lib/get-batcher.js';
import { harness, metricValue, type TapLike } from './helper.js';

/** Calls per command name since the last CONFIG RESETSTAT, from Redis itself. */
async function commandCalls(redis: Redis): Promise<Record<string, number>> {
  const info = await redis.info('commandstats');
  const calls: Record<string, number> = {};
  for (const m of info.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)) {
    calls[m[1] as string] = Number(m[2]);
  }
  return calls;
}

async function privateRedis(t: TapLike) {
  const server = await startRedisServer();
  t.teardown(() => server.close());
  const client = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
  await client.connect();
  t.teardown(() => client.disconnect());
  return { server, client };
}

void t.test('reads issued together leave as one MGET; duplicates are asked once', async (t) => {
  const { client } = await privateRedis(t);
  await client.mset('a', '1', 'b', '2', 'c', '3');
  await client.config('RESETSTAT');
  const sent: string[][] = [];
  const batcher = new GetBatcher(
    (keys) => {
      sent.push(keys);
      return client.mget(keys);
    },
    { onBatch: () => undefined },
  );

  const values = await Promise.all(['a', 'b', 'a', 'missing', 'c'].map((k) => batcher.get(k)));
  t.same(values, ['1', '2', '1', null, '3'], 'every caller gets its own key, absent keys null');
  t.same(sent, [['a', 'b', 'missing', 'c']], 'one MGET, each key once');

  // Reads in different turns of the event loop are different groups.
  t.equal(await batcher.get('b'), '2');
  await new Promise((r) => setImmediate(r));
  t.equal(await batcher.get('c'), '3');
  t.equal(sent.length, 3);
  const calls = await commandCalls(client);
  t.equal(calls.mget, 3, 'Redis saw three MGETs');
  t.notOk(calls.get, 'and no GET');
});

void t.test('a group is sent as soon as it reaches maxKeys', async (t) => {
  const { client } = await privateRedis(t);
  const sizes: number[] = [];
  const batcher = new GetBatcher((keys) => client.mget(keys), {
    maxKeys: 4,
    onBatch: (n) => sizes.push(n),
  });
  const keys = Array.from({ length: 10 }, (_, i) => `k${i}`);
  await client.set('k7', 'seven');
  const values = await Promise.all(keys.map((k) => batcher.get(k)));
  t.equal(values[7], 'seven');
  t.equal(values.filter((v) => v === null).length, 9);
  t.same(sizes, [4, 4, 2]);
});

void t.test('a failed MGET fails every read of its group, and the next group works', async (t) => {
  const { server, client } = await privateRedis(t);
  const batcher = new GetBatcher((keys) => client.mget(keys));
  await client.set('x', 'before');
  t.equal(await batcher.get('x'), 'before');

  await server.stop();
  const results = await Promise.allSettled([batcher.get('x'), batcher.get('y')]);
  t.same(
    results.map((r) => r.status),
    ['rejected', 'rejected'],
  );

  // A mget that throws instead of rejecting is reported the same way.
  const throwing = new GetBatcher(() => {
    throw new Error('no connection');
  });
  await t.rejects(throwing.get('x'), /no connection/);
});

void t.test('the service merges concurrent cached reads into MGETs and counts them', async (t) => {
  const h = await harness(t);
  const { server, client } = await privateRedis(t);
  const app = await h.build({ REDIS_URL: server.url, PROFILE_LOCAL_CACHE: 'false' });
  const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => h.createUser(`User ${i}`)));
  for (const id of ids) await app.inject({ method: 'GET', url: `/v1/profiles/${id}` });
  await client.config('RESETSTAT');
  const batchesBefore = await metricValue(app, 'profile_cache_get_batches_total');
  const keysBefore = await metricValue(app, 'profile_cache_get_batch_keys_total');

  const responses = await Promise.all(
    [...ids, ...ids].map((id) => app.inject({ method: 'GET', url: `/v1/profiles/${id}` })),
  );
  t.same(
    [...new Set(responses.map((r) => `${r.statusCode} ${String(r.headers['x-cache'])}`))],
    ['200 HIT'],
  );
  t.same(
    responses.map((r) => r.json<{ id: string }>().id),
    [...ids, ...ids],
    'each response is the profile it asked for',
  );
  const calls = await commandCalls(client);
  const batches = (await metricValue(app, 'profile_cache_get_batches_total')) - batchesBefore;
  const keys = (await metricValue(app, 'profile_cache_get_batch_keys_total')) - keysBefore;
  t.notOk(calls.get, 'no single GETs');
  t.ok(calls.mget !== undefined && calls.mget < 40, `40 reads took ${calls.mget} MGETs`);
  t.equal(batches, calls.mget, 'the batch counter matches what Redis saw');
  t.ok(keys >= 20 && keys <= 40, `the MGETs carried ${keys} keys`);
});
