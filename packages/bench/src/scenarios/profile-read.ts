// profile-read: GET /v1/profiles/:id throughput with autocannon against profile-service, run as a
// user runs it (services.ts), at the level that ships (LOG_LEVEL=info, stdout drained through a
// pipe as a container runtime does) and at warn, for cached reads with the in-process tier on and
// off, each against the peer a user would write instead (children/peer-server.ts: Fastify with its
// default logger, ioredis GET / SETEX, as the guide writes it) at the same level: info against the
// peer's default logger, warn against the peer with its logger off. Plus the miss path (Postgres,
// every request a profile never read before) against the peer's miss, hit vs miss latency on one
// connection, a concurrency sweep for the plot, and a bare route of the platform app in its own
// process as a reference. Servers on core 1, autocannon on core 0.
//
// The cached-read targets are measured in 1 s slices, every target once per slice round in a
// shuffled order, and each target's rate is its requests over its seconds: this machine's speed
// drifts over tens of seconds (shared host), and slicing puts every target under the same drift,
// so the ratios compare the code rather than the minute it ran in.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { freePort } from '@app/testing';
import { benchEnv, PACKAGE_DIR, provisionTopology, type BenchEnv } from '../environment.js';
import type { Scenario, ScenarioContext, SeriesPoint } from '../harness.js';
import { cannon, HttpClient, latencySummary } from '../load.js';
import { httpGet, startChild, waitReady } from '../processes.js';
import { ProfileSeeder } from '../seed.js';
import { median } from '../stats.js';
import { counterValue, startService, type RunningService } from '../services.js';

const HOT_KEYS = 100;
const CONNECTIONS = 32;

const PEER_INFO = 'peer, logger info';
const PEER_OFF = 'peer, logger off';
const REDIS_INFO = 'hit, Redis only, info';
const REDIS_WARN = 'hit, Redis only, warn';
const TIER_INFO = 'hit, in-process tier, info';
const TIER_WARN = 'hit, in-process tier, warn';
const BARE = 'bare route, platform app, warn';
const LOG_COST_REDIS = 'logging cost at info, Redis-only hit';
const LOG_COST_TIER = 'logging cost at info, tier hit';
const MISS = 'miss (Postgres), info';
const PEER_MISS = 'peer miss, logger info';
const MISS_P99 = 'miss p99, info';
const PEER_MISS_P99 = 'peer miss p99, logger info';

/** A server to load (every one answers `/v1/profiles/<id>`). */
interface HitTarget {
  metric: string;
  url: string;
}

function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

const ratioTarget = (metric: string, value: number, of: string) => ({
  metric,
  op: '>=' as const,
  value,
  unit: `× ${of}`,
  text: `at least ${value}× the ${of} requests/s`,
  of: 'ratio' as const,
});

/** The peer (children/peer-server.ts) in its own process, at `level` (`info` or `off`). */
async function startPeer(
  ctx: ScenarioContext,
  env: BenchEnv,
  level: 'info' | 'off',
): Promise<RunningService> {
  const port = await freePort();
  const child = startChild({
    script: 'src/children/peer-server.ts',
    cwd: PACKAGE_DIR,
    env: {
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: level,
      REDIS_URL: env.redisUrl,
      DATABASE_URL: env.databaseUrl,
      PEER_REDIS_PREFIX: `${env.redisPrefix}peer-${level}:`,
      NODE_ENV: 'production',
    },
    pinning: ctx.pinning,
    label: `peer (logger ${level})`,
  });
  ctx.teardown(() => child.stop());
  const url = `http://127.0.0.1:${port}`;
  await waitReady(child, `${url}/health/ready`);
  return { name: 'profile-service', child, url, stop: () => child.stop() };
}

export const profileRead: Scenario = {
  name: 'profile-read',
  description:
    'cached profile reads (in-process tier / Redis only, at info and warn) vs the peer (Fastify + ioredis cache-aside) at the same level; miss path vs the peer; hit vs miss latency',
  target: [
    ratioTarget(REDIS_INFO, 1.2, 'peer'),
    ratioTarget(REDIS_WARN, 1.2, 'peer'),
    ratioTarget(TIER_INFO, 2, 'peer'),
    ratioTarget(TIER_WARN, 2, 'peer'),
    {
      metric: LOG_COST_REDIS,
      op: '<=',
      value: 10,
      unit: '%',
      text: 'per-request logging at info costs at most 10% of the same service at warn',
    },
    {
      metric: LOG_COST_TIER,
      op: '<=',
      value: 10,
      unit: '%',
      text: 'per-request logging at info costs at most 10% of the same service at warn',
    },
    ratioTarget(MISS, 1, "peer's miss"),
    {
      metric: MISS_P99,
      op: '<=',
      value: 1,
      unit: "× peer's miss p99",
      text: "miss p99 at 32 connections no worse than the peer's",
      of: 'ratio',
    },
  ],
  async run(ctx) {
    const env = await benchEnv(ctx);
    await provisionTopology(env.nats);
    const seeder = new ProfileSeeder(env.databaseUrl);
    ctx.teardown(() => seeder.close());
    const hot = await seeder.seed(HOT_KEYS);
    const cold: string[] = await seeder.seed(ctx.smoke ? 10_000 : 100_000);
    let coldUsed = 0;
    const nextCold = () => {
      const id = cold[coldUsed++];
      if (id === undefined) throw new Error('profile-read: ran out of never-read profiles');
      return `/v1/profiles/${id}`;
    };
    // Keep enough never-read profiles for the next miss run: twice what the last one used.
    let lastMissRequests = 2_000;
    const ensureCold = async () => {
      if (cold.length - coldUsed < lastMissRequests * 2) {
        cold.push(...(await seeder.seed(Math.max(20_000, lastMissRequests * 3))));
      }
    };
    let hotIndex = 0;
    const nextHotId = () => hot[hotIndex++ % hot.length] as string;
    const nextHot = () => `/v1/profiles/${nextHotId()}`;

    const startInstance = (local: boolean, level: 'info' | 'warn') =>
      startService(
        ctx,
        env,
        'profile-service',
        {
          PROFILE_REDIS_PREFIX: `${env.redisPrefix}${local ? 'local' : 'redis'}-${level}:`,
          PROFILE_LOCAL_CACHE: String(local),
          LOG_LEVEL: level,
        },
        `profile-service (${local ? 'tier on' : 'Redis only'}, ${level})`,
      );
    // One after another, as in every scenario: concurrent start-ups only race for the cores.
    const redisInfo = await startInstance(false, 'info');
    const redisWarn = await startInstance(false, 'warn');
    const tierInfo = await startInstance(true, 'info');
    const tierWarn = await startInstance(true, 'warn');
    const peerInfo = await startPeer(ctx, env, 'info');
    const peerOff = await startPeer(ctx, env, 'off');
    const services = [redisInfo, redisWarn, tierInfo, tierWarn];

    // Fill every cache and check that what we call a hit is one.
    for (const service of [...services, peerInfo, peerOff]) {
      for (const id of hot) await httpGet(`${service.url}/v1/profiles/${id}`);
    }
    const client = new HttpClient(redisInfo.url, 1);
    ctx.teardown(() => client.close());
    for (const service of services) {
      const probe = new HttpClient(service.url, 1);
      const res = await probe
        .send('GET', `/v1/profiles/${hot[0] as string}`)
        .finally(() => probe.close());
      if (res.status !== 200 || res.headers['x-cache'] !== 'HIT') {
        throw new Error(
          `profile-read: a warmed profile answered ${res.status} x-cache=${String(res.headers['x-cache'])} (${service.child.label})`,
        );
      }
    }
    const sample = await client.send('GET', `/v1/profiles/${hot[0] as string}`);
    // The peer answers the same profile (its JSON is built from the row, not the service's bytes).
    for (const peer of [peerInfo, peerOff]) {
      const res = await httpGet(`${peer.url}/v1/profiles/${hot[0] as string}`);
      if (res.status !== 200 || !isDeepStrictEqual(JSON.parse(res.body), JSON.parse(sample.body))) {
        throw new Error(`profile-read: ${peer.child.label} answered ${res.status} ${res.body}`);
      }
    }

    // The bare route answers each hot id with the very JSON the service answers for it.
    const dir = await mkdtemp(join(tmpdir(), 'bench-bare-'));
    ctx.teardown(() => rm(dir, { recursive: true, force: true }));
    const bodyFile = join(dir, 'profiles.json');
    const bodies: Record<string, string> = {};
    for (const id of hot) bodies[id] = (await httpGet(`${redisInfo.url}/v1/profiles/${id}`)).body;
    await writeFile(bodyFile, JSON.stringify(bodies));
    const barePort = await freePort();
    const bare = startChild({
      script: 'src/children/bare-server.ts',
      cwd: PACKAGE_DIR,
      env: {
        PORT: String(barePort),
        HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
        BENCH_BODY_FILE: bodyFile,
        NODE_ENV: 'production',
      },
      pinning: ctx.pinning,
      label: 'bare route',
    });
    ctx.teardown(() => bare.stop());
    const bareUrl = `http://127.0.0.1:${barePort}`;
    await waitReady(bare, `${bareUrl}/health/ready`);
    const answer = await httpGet(`${bareUrl}/v1/profiles/${hot[0] as string}`);
    if (answer.status !== 200 || answer.body !== sample.body) {
      throw new Error(`profile-read: the bare route answered ${answer.status}, not the same JSON`);
    }

    const targets: HitTarget[] = [
      { metric: PEER_INFO, url: peerInfo.url },
      { metric: PEER_OFF, url: peerOff.url },
      { metric: REDIS_INFO, url: redisInfo.url },
      { metric: REDIS_WARN, url: redisWarn.url },
      { metric: TIER_INFO, url: tierInfo.url },
      { metric: TIER_WARN, url: tierWarn.url },
      { metric: BARE, url: bareUrl },
    ];
    const hitRun = (target: HitTarget, connections: number, durationS: number) =>
      cannon({
        url: `${target.url}/v1/profiles/x`,
        connections,
        durationS,
        nextPath: nextHot,
      });
    /** `seconds` rounds of 1 s per target in a shuffled order: requests/s and p99 per target. */
    const hitSlices = async (seconds: number) => {
      const sums = new Map(
        targets.map((t) => [t.metric, { requests: 0, busyS: 0, p99: [] as number[] }]),
      );
      for (let round = 0; round < seconds; round++) {
        for (const target of shuffled(targets)) {
          const r = await hitRun(target, CONNECTIONS, 1);
          const sum = sums.get(target.metric) as { requests: number; busyS: number; p99: number[] };
          sum.requests += r.requests;
          sum.busyS += r.requests / r.rps;
          sum.p99.push(r.p99);
        }
      }
      const out: Record<string, { rps: number; p99: number }> = {};
      for (const [metric, sum] of sums) {
        out[metric] = { rps: sum.requests / sum.busyS, p99: median(sum.p99) };
      }
      return out;
    };
    const missRun = async (
      service: { url: string },
      connections: number,
      durationS: number,
      countMisses = true,
    ) => {
      await ensureCold();
      const before = coldUsed;
      const missesBefore = countMisses
        ? counterValue((await httpGet(`${service.url}/metrics`)).body, 'profile_cache_misses_total')
        : 0;
      const result = await cannon({
        url: `${service.url}/v1/profiles/x`,
        connections,
        durationS,
        nextPath: nextCold,
      });
      lastMissRequests = coldUsed - before;
      if (!countMisses) return result;
      const misses =
        counterValue((await httpGet(`${service.url}/metrics`)).body, 'profile_cache_misses_total') -
        missesBefore;
      // Every request read a profile never read before, so the service must have counted a miss each.
      if (misses < result.requests * 0.99) {
        throw new Error(
          `profile-read: miss run answered ${result.requests} but counted ${misses} misses`,
        );
      }
      return result;
    };
    const sequentialLatency = async (nextPath: () => string, durationS: number) => {
      const latencies: number[] = [];
      const end = performance.now() + durationS * 1000;
      while (performance.now() < end) {
        const res = await client.send('GET', nextPath());
        if (res.status !== 200) throw new Error(`profile-read: GET answered ${res.status}`);
        latencies.push(res.latencyMs);
      }
      return latencySummary(latencies);
    };

    if (ctx.warmupS > 0) {
      ctx.log(`warming up (${ctx.warmupS} s per target)`);
      for (const target of targets) await hitRun(target, CONNECTIONS, ctx.warmupS);
      await missRun(redisInfo, CONNECTIONS, ctx.warmupS);
      await missRun(peerInfo, CONNECTIONS, ctx.warmupS, false);
    }

    const d = ctx.durationS;
    ctx.metric(PEER_INFO, { unit: 'req/s' });
    ctx.metric(PEER_OFF, { unit: 'req/s' });
    ctx.metric(REDIS_INFO, { unit: 'req/s', baseline: PEER_INFO });
    ctx.metric(REDIS_WARN, { unit: 'req/s', baseline: PEER_OFF });
    ctx.metric(TIER_INFO, { unit: 'req/s', baseline: PEER_INFO });
    ctx.metric(TIER_WARN, { unit: 'req/s', baseline: PEER_OFF });
    ctx.metric(BARE, { unit: 'req/s', baseline: PEER_OFF });
    ctx.metric(LOG_COST_REDIS, { unit: '%', decimals: 1, allowZero: true });
    ctx.metric(LOG_COST_TIER, { unit: '%', decimals: 1, allowZero: true });
    ctx.metric('hit, Redis only p99, info', { unit: 'ms', decimals: 1 });
    ctx.metric('peer hit p99, logger info', { unit: 'ms', decimals: 1 });
    ctx.metric(PEER_MISS, { unit: 'req/s' });
    ctx.metric(MISS, { unit: 'req/s', baseline: PEER_MISS });
    ctx.metric(PEER_MISS_P99, { unit: 'ms', decimals: 1 });
    ctx.metric(MISS_P99, { unit: 'ms', decimals: 1, baseline: PEER_MISS_P99 });
    ctx.metric('hit latency p50, 1 conn', { unit: 'ms', decimals: 2 });
    ctx.metric('hit latency p99, 1 conn', { unit: 'ms', decimals: 2 });
    ctx.metric('miss latency p50, 1 conn', {
      unit: 'ms',
      decimals: 2,
      baseline: 'hit latency p50, 1 conn',
    });
    ctx.metric('miss latency p99, 1 conn', {
      unit: 'ms',
      decimals: 2,
      baseline: 'hit latency p99, 1 conn',
    });

    /** What logging at info costs, in % of the same instance's rate at warn (negative: none). */
    const cost = (info: number, warn: number) => 100 * (1 - info / warn);
    await ctx.alternate([
      {
        name: 'cached hits (1 s slices, shuffled)',
        run: async () => {
          const r = await hitSlices(Math.max(1, Math.round(d)));
          const rps = (metric: string) => (r[metric] as { rps: number }).rps;
          const out: Record<string, number> = {};
          for (const target of targets) out[target.metric] = rps(target.metric);
          out[LOG_COST_REDIS] = cost(rps(REDIS_INFO), rps(REDIS_WARN));
          out[LOG_COST_TIER] = cost(rps(TIER_INFO), rps(TIER_WARN));
          out['hit, Redis only p99, info'] = (r[REDIS_INFO] as { p99: number }).p99;
          out['peer hit p99, logger info'] = (r[PEER_INFO] as { p99: number }).p99;
          return out;
        },
      },
      {
        name: 'miss (Postgres), service and peer',
        run: async (rep) => {
          // Both, in an order that alternates by repetition, each on profiles never read before.
          const order = rep % 2 === 0 ? ['service', 'peer'] : ['peer', 'service'];
          const out: Record<string, number> = {};
          for (const who of order) {
            if (who === 'service') {
              const r = await missRun(redisInfo, CONNECTIONS, d);
              out[MISS] = r.rps;
              out[MISS_P99] = r.p99;
            } else {
              const r = await missRun(peerInfo, CONNECTIONS, d, false);
              out[PEER_MISS] = r.rps;
              out[PEER_MISS_P99] = r.p99;
            }
          }
          return out;
        },
      },
      {
        name: 'latency, 1 conn',
        run: async () => {
          const span = Math.max(1, d / 2);
          const hit = await sequentialLatency(nextHot, span);
          await ensureCold();
          const miss = await sequentialLatency(nextCold, span);
          return {
            'hit latency p50, 1 conn': hit.p50,
            'hit latency p99, 1 conn': hit.p99,
            'miss latency p50, 1 conn': miss.p50,
            'miss latency p99, 1 conn': miss.p99,
          };
        },
      },
    ]);

    const levels = ctx.smoke ? [1, 16] : [1, 4, 16, 64];
    const sweepS = ctx.smoke ? 0.5 : 3;
    const series: Record<string, SeriesPoint[]> = {};
    const point = (name: string, x: number, y: number) => (series[name] ??= []).push({ x, y });
    const sweepTargets = targets.filter((t) =>
      [PEER_INFO, REDIS_INFO, TIER_INFO].includes(t.metric),
    );
    for (const c of levels) {
      for (const target of sweepTargets) {
        point(target.metric, c, (await hitRun(target, c, sweepS)).rps);
      }
      point(MISS, c, (await missRun(redisInfo, c, sweepS)).rps);
      point(PEER_MISS, c, (await missRun(peerInfo, c, sweepS, false)).rps);
      ctx.log(
        `sweep c=${c}: ${Object.entries(series)
          .map(([k, v]) => `${k}=${Math.round(v.at(-1)?.y ?? 0)}`)
          .join(' ')}`,
      );
    }
    for (const [name, points] of Object.entries(series)) ctx.series(name, points);

    const metrics = (await httpGet(`${tierInfo.url}/metrics`)).body;
    const redisMetrics = (await httpGet(`${redisInfo.url}/metrics`)).body;
    const keysPerMget =
      counterValueSafe(redisMetrics, 'profile_cache_get_batch_keys_total') /
      counterValueSafe(redisMetrics, 'profile_cache_get_batches_total');
    ctx.note(
      `profile-read: autocannon ${CONNECTIONS} connections, ${d} s per run, over ${HOT_KEYS} hot profiles (hits) or a fresh never-read profile per request (misses); every server's stdout is a pipe the bench drains; in-process tier TTL is the service default; sweep ${sweepS} s per point at ${levels.join('/')} connections. Hit latency is measured on the Redis-only instance at info. On the tier-on instance at info ${(
        (100 * counterValueSafe(metrics, 'profile_cache_hits_total', 'tier="local"')) /
        counterValueSafe(metrics, 'profile_cache_hits_total')
      ).toFixed(
        1,
      )}% of hits came from the in-process tier. The Redis-only instance merged concurrent reads into MGETs of ${keysPerMget.toFixed(1)} keys on average. Cached-read rates come from ${Math.max(1, Math.round(d))} shuffled 1 s slices per target and repetition; their p99 is the median of the slices' p99. Logging cost = 1 - (rate at info / rate at warn) of the same configuration, per repetition.`,
    );
  },
};

function counterValueSafe(text: string, name: string, labels?: string): number {
  try {
    return counterValue(text, name, labels);
  } catch {
    return Number.NaN;
  }
}
