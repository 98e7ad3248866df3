// The shared REDIS_* variables as profile-service reads them: REDIS_URL alone is one node;
// REDIS_CLUSTER_NODES selects Cluster and REDIS_SENTINELS + REDIS_SENTINEL_MASTER Sentinel; a
// contradictory or incomplete set is a config error naming every bad variable, never a password.
// And the keys one batch names fall in several slots, which the cluster MGET splits and merges.
import { ConfigError, describeRedisTopology, redisTopology } from '@app/platform';
import t from 'tap';
import { loadConfig } from '../src/config.js';
import { cacheKeys } from '../src/lib/cache-keys.js';
import { groupBySlot } from '../src/lib/slots.js';
import { keyPair } from './helper.js';

const JWT_PUBLIC_KEY = keyPair('ed25519').publicPem;

function problems(env: Record<string, string>): Record<string, string> {
  try {
    loadConfig({ JWT_PUBLIC_KEY, ...env });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return Object.fromEntries(err.problems.map((p) => [p.variable, p.problem]));
  }
  return {};
}

void t.test('each mode from its variables', async (t) => {
  t.same(redisTopology(loadConfig({ JWT_PUBLIC_KEY })), {
    mode: 'single',
    url: 'redis://127.0.0.1:6379',
  });
  const cluster = redisTopology(
    loadConfig({
      JWT_PUBLIC_KEY,
      REDIS_CLUSTER_NODES: 'redis-0:6379, 10.0.0.2:7000',
      REDIS_PASSWORD: 's3cret',
    }),
  );
  t.same(cluster, {
    mode: 'cluster',
    nodes: [
      { host: 'redis-0', port: 6379 },
      { host: '10.0.0.2', port: 7000 },
    ],
    password: 's3cret',
  });
  t.equal(describeRedisTopology(cluster), 'cluster redis-0:6379,10.0.0.2:7000');
  const sentinel = redisTopology(
    loadConfig({
      JWT_PUBLIC_KEY,
      REDIS_SENTINELS: 's1:26379,s2:26379',
      REDIS_SENTINEL_MASTER: 'app',
      REDIS_SENTINEL_PASSWORD: 'hush',
    }),
  );
  t.match(sentinel, { mode: 'sentinel', name: 'app', sentinelPassword: 'hush' });
  t.equal(describeRedisTopology(sentinel), 'sentinel app via s1:26379,s2:26379');
  t.equal(
    describeRedisTopology(
      redisTopology(loadConfig({ JWT_PUBLIC_KEY, REDIS_URL: 'redis://:pw@h:1' })),
    ),
    'redis://:***@h:1',
    'a URL password is redacted',
  );
});

void t.test('contradictory or incomplete variables name each one', async (t) => {
  t.same(Object.keys(problems({ REDIS_CLUSTER_NODES: 'a:1', REDIS_SENTINELS: 'b:2' })).sort(), [
    'REDIS_CLUSTER_NODES',
    'REDIS_SENTINELS',
    'REDIS_SENTINEL_MASTER',
  ]);
  t.match(problems({ REDIS_SENTINELS: 'b:2' }), {
    REDIS_SENTINEL_MASTER: /required with REDIS_SENTINELS/,
  });
  t.match(problems({ REDIS_SENTINEL_MASTER: 'app' }), {
    REDIS_SENTINEL_MASTER: /only meaningful with REDIS_SENTINELS/,
  });
  const bad = problems({ REDIS_CLUSTER_NODES: 'redis://a:1', REDIS_PASSWORD: '' });
  t.match(bad, { REDIS_CLUSTER_NODES: /host:port pairs/ });
  const hidden = problems({ REDIS_SENTINELS: 'nope', REDIS_SENTINEL_PASSWORD: 'x', PORT: 'x' });
  t.notOk(JSON.stringify(hidden).includes('"x"'), 'no value of a password is shown');
});

void t.test('one profile is one slot; a batch of profiles is many', async (t) => {
  const keys = cacheKeys('t:abc:');
  t.equal(
    groupBySlot([keys.entry('id-1'), keys.lease('id-1')]).size,
    1,
    'entry and lease share a slot',
  );
  const ids = Array.from({ length: 20 }, (_, i) => `id-${i}`);
  const groups = groupBySlot(ids.map((id) => keys.entry(id)));
  t.ok(groups.size > 10, `20 profiles fall in ${groups.size} slots`);
  t.same(
    [...groups.values()].flat().sort((a, b) => a - b),
    ids.map((_, i) => i),
    'every key in exactly one group',
  );
});
