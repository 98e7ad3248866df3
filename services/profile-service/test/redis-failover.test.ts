// A Redis master killed (SIGKILL) under steady reads and updates of a hot profile, in Cluster mode
// (the master of the key's slot) and in Sentinel mode (the master): no response is a 5xx (reads
// the cache cannot answer are BYPASSes from Postgres), reads HIT again once a replica has been
// promoted, and no read returns a version older than one whose update had already answered 200.
// The counts and the time to the first HIT after the kill are printed as TAP comments.
import {
  startRedisCluster,
  startRedisSentinel,
  type PrivateRedisCluster,
  type PrivateRedisSentinel,
} from '@app/testing';
import t, { type Test } from 'tap';
import { cacheKeys } from '../src/lib/cache-keys.js';
import { build, patchProfile, testEnv } from './helper.js';

type Topology = PrivateRedisCluster | PrivateRedisSentinel;

interface Mode {
  mode: string;
  start: () => Promise<Topology>;
  /** Kills the master holding `key`; resolves once it has exited. */
  killMaster: (topology: Topology, key: string) => Promise<void>;
}

const MODES: Mode[] = [
  {
    mode: 'cluster',
    start: startRedisCluster,
    killMaster: async (topology, key) => {
      const cluster = topology as PrivateRedisCluster;
      await cluster.kill(await cluster.masterOf(key));
    },
  },
  {
    mode: 'sentinel',
    start: () => startRedisSentinel(),
    killMaster: async (topology) => {
      await (topology as PrivateRedisSentinel).killMaster();
    },
  },
];

/** How long the workload may run after the kill before the test gives up on seeing a HIT. */
const RECOVERY_BOUND_MS = 45_000;
/** Steady traffic before the kill, and after the first HIT that follows it. */
const STEADY_MS = 1500;

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function failover(t: Test, topology: Topology, { mode, killMaster }: Mode): Promise<void> {
  const env = await testEnv(t, {
    ...topology.env,
    // The service's own defaults for a sick Redis, not the helper's patient test values.
    PROFILE_REDIS_TIMEOUT_MS: '500',
    PROFILE_LEASE_MS: '3000',
    PROFILE_LEASE_WAIT_MS: '2000',
  });
  const { app } = await build(t, { env });
  const id = await env.createUser('Hot 0');
  const token = env.token(id);
  const warm = await app.inject({ method: 'GET', url: `/v1/profiles/${id}` });
  t.equal(warm.statusCode, 200);

  const stats = { reads: 0, updates: 0, errors: 0, bypasses: 0, hits: 0, stale: 0, slowestMs: 0 };
  const statuses = new Map<number, number>();
  let acked = 1; // the newest version whose update has answered 200
  let killedAt = 0;
  let firstHitAfterKill = 0;
  let stop = false;
  const count = (status: number) => {
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
    if (status >= 500) stats.errors++;
  };

  const reader = async () => {
    while (!stop) {
      const floor = acked;
      const started = Date.now();
      const res = await app.inject({ method: 'GET', url: `/v1/profiles/${id}` });
      stats.slowestMs = Math.max(stats.slowestMs, Date.now() - started);
      stats.reads++;
      count(res.statusCode);
      if (res.statusCode === 200) {
        const source = res.headers['x-cache'];
        if (source === 'BYPASS') stats.bypasses++;
        if (source === 'HIT') {
          stats.hits++;
          // Asked after the master had exited, so answered by the promoted replica.
          if (killedAt > 0 && started > killedAt && firstHitAfterKill === 0) {
            firstHitAfterKill = Date.now();
          }
        }
        const { version } = res.json<{ version: number }>();
        if (version < floor) {
          stats.stale++;
          t.fail(`read version ${version} (${String(source)}) after version ${floor} answered 200`);
        }
      }
      await pause(5);
    }
  };
  const updater = async () => {
    for (let n = 1; !stop; n++) {
      const res = await patchProfile(app, id, { displayName: `Hot ${n}` }, token);
      stats.updates++;
      count(res.statusCode);
      if (res.statusCode === 200) acked = Math.max(acked, res.json<{ version: number }>().version);
      await pause(25);
    }
  };

  const workload = Promise.all([reader(), reader(), reader(), updater()]);
  try {
    await pause(STEADY_MS);
    await killMaster(topology, cacheKeys(env.redisPrefix).entry(id));
    killedAt = Date.now();
    const deadline = killedAt + RECOVERY_BOUND_MS;
    while (firstHitAfterKill === 0 && Date.now() < deadline) await pause(50);
    if (firstHitAfterKill > 0) await pause(STEADY_MS);
  } finally {
    stop = true;
    await workload;
  }

  const toHit = firstHitAfterKill > 0 ? firstHitAfterKill - killedAt : -1;
  t.comment(
    `${mode} failover: ${stats.reads} reads, ${stats.updates} updates, ${stats.errors} 5xx, ` +
      `${stats.bypasses} BYPASS, ${stats.hits} HIT, ${stats.stale} stale; ` +
      `first HIT ${toHit} ms after the kill; slowest read ${stats.slowestMs} ms; statuses ${JSON.stringify(Object.fromEntries(statuses))}`,
  );
  t.equal(stats.errors, 0, 'no response >= 500');
  t.equal(stats.stale, 0, 'no read older than an acknowledged update');
  t.ok(firstHitAfterKill > 0, `reads HIT again after the failover (${toHit} ms)`);
  t.same([...statuses.keys()], [200], 'every request answered 200');
}

for (const mode of MODES) {
  void t.test(`Redis ${mode.mode}`, async (t) => {
    const topology = await mode.start();
    // The apps and clients of the subtest close first, then the nodes go.
    t.teardown(() => topology.close());
    await t.test('kill -9 the master during reads and updates', (t) => failover(t, topology, mode));
  });
}
