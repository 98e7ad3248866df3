// The cache in Redis Cluster and Sentinel modes: the cache test files (MISS then HIT, TTLs, key
// versions, the negative cache, update invalidation across replicas, the stampede) run again
// against a private 3-master/3-replica Cluster and a private Sentinel group, each file as a child
// process pointed there through PROFILE_TEST_REDIS (see helper.ts); and a batch read whose keys
// span slots and masters, which a Cluster only answers when its MGET is split per slot.
import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  startRedisCluster,
  startRedisSentinel,
  type PrivateRedisCluster,
  type PrivateRedisSentinel,
} from '@app/testing';
import t from 'tap';
import { cacheKeys } from '../src/lib/cache-keys.js';
import { groupBySlot } from '../src/lib/slots.js';
import { build, metricValue, testEnv } from './helper.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const CACHE_TESTS = ['read-cache', 'negative', 'update', 'stampede'];

type Topology = PrivateRedisCluster | PrivateRedisSentinel;

const MODES: Array<{ mode: string; start: () => Promise<Topology> }> = [
  { mode: 'cluster', start: startRedisCluster },
  { mode: 'sentinel', start: () => startRedisSentinel() },
];

for (const { mode, start } of MODES) {
  void t.test(`Redis ${mode}`, async (t) => {
    const topology = await start();
    t.teardown(() => topology.close());

    await t.test('a batch of ids whose keys span slots: one answer, in order', async (t) => {
      const env = await testEnv(t, topology.env);
      const { app } = await build(t, { env });
      const names = Array.from({ length: 40 }, (_, i) => `Batch ${i}`);
      const ids = await Promise.all(names.map((name) => env.createUser(name)));
      const unknown = randomUUID();
      const asked = [...ids.slice(0, 20), unknown, ...ids.slice(20)];
      const keys = asked.map((id) => cacheKeys(env.redisPrefix).entry(id));
      t.ok(groupBySlot(keys).size > 30, `the keys fall in ${groupBySlot(keys).size} slots`);
      if ('masterOf' in topology) {
        const masters = new Set(await Promise.all(keys.map((key) => topology.masterOf(key))));
        t.equal(masters.size, 3, 'and on all 3 masters');
      }

      const url = `/v1/profiles?ids=${asked.join(',')}`;
      const before = await metricValue(app, 'profile_db_reads_total');
      for (const expected of ['MISS', 'HIT']) {
        const res = await app.inject({ method: 'GET', url });
        t.equal(res.statusCode, 200);
        t.equal(res.headers['x-cache'], expected, `x-cache: ${expected}`);
        const body = res.json<{ profiles: Array<{ displayName: string }>; missing: string[] }>();
        t.same(
          body.profiles.map((p) => p.displayName),
          names,
          'every profile, in the order asked',
        );
        t.same(body.missing, [unknown]);
      }
      t.equal(await metricValue(app, 'profile_db_reads_total'), before + 1, 'one query in all');
      const cached = await Promise.all(keys.map((key) => env.redis.get(key)));
      t.equal(cached.filter((v) => v !== null).length, 41, 'every entry (and the 404) cached');
    });

    for (const file of CACHE_TESTS) {
      await t.spawn(
        process.execPath,
        ['--import=tsx', '--conditions=app-source', join(HERE, `${file}.test.ts`)],
        { env: { ...process.env, PROFILE_TEST_REDIS: JSON.stringify(topology.env) } },
        `${file}.test.ts on ${mode}`,
      );
    }
  });
}
