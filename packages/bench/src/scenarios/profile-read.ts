// profile-read: GET /v1/profiles/:id throughput with autocannon against profile-service, run as a
// user runs it (services.ts), for cached reads with the in-process tier on and off, each against
// the baseline of a bare route in a separate process: the platform's base app with one route
// answering the same JSON from memory (children/bare-server.ts), so the ratio is what the service's
// cache path and process cost over the least a Fastify route on this platform can do. Plus the miss
// path (Postgres, every request a profile never read before), hit vs miss latency on one
// connection, and a concurrency sweep for the plot. Servers on core 1, autocannon on core 0.
//
// The cached-read targets are measured in 1 s slices, every target once per slice round in a
// shuffled order, and each target's rate is its requests over its seconds: this machine's speed
// drifts over tens of seconds (shared host), and slicing puts every target under the same drift,
// so the ratios compare the code rather than the minute it ran in.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@app/testing';
import { benchEnv, PACKAGE_DIR, provisionTopology } from '../environment.js';
import type { Scenario, SeriesPoint } from '../harness.js';
import { cannon, HttpClient, latencySummary } from '../load.js';
import { httpGet, startChild, waitReady } from '../processes.js';
import { ProfileSeeder } from '../seed.js';
import { median } from '../stats.js';
import { counterValue, startService } from '../services.js';

const HOT_KEYS = 100;
const CONNECTIONS = 32;

const BARE = 'bare route, platform app';
const TIER_ON = 'hit, in-process tier on';
const REDIS_ONLY = 'hit, Redis only';

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

export const profileRead: Scenario = {
  name: 'profile-read',
  description:
    'cached profile reads (in-process tier on / Redis only) vs a bare route with the same JSON in its own process; miss path; hit vs miss latency',
  target: [
    {
      metric: TIER_ON,
      op: '>=',
      value: 0.9,
      unit: '× bare route',
      text: 'at least 90% of the bare route requests/s',
      of: 'ratio',
    },
    {
      metric: REDIS_ONLY,
      op: '>=',
      value: 0.65,
      unit: '× bare route',
      text: 'at least 65% of the bare route requests/s',
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

    const startInstance = (local: boolean, label: string) =>
      startService(
        ctx,
        env,
        'profile-service',
        {
          PROFILE_REDIS_PREFIX: `${env.redisPrefix}${local ? 'local' : 'redis'}:`,
          PROFILE_LOCAL_CACHE: String(local),
        },
        label,
      );
    // One after another, as in every scenario: concurrent start-ups only race for the cores.
    const tierOn = await startInstance(true, 'profile-service (tier on)');
    const redisOnly = await startInstance(false, 'profile-service (Redis only)');

    // Fill both caches and check that what we call a hit is one.
    for (const service of [tierOn, redisOnly]) {
      for (const id of hot) await httpGet(`${service.url}/v1/profiles/${id}`);
    }
    const client = new HttpClient(redisOnly.url, 1);
    ctx.teardown(() => client.close());
    const sample = await client.send('GET', `/v1/profiles/${hot[0] as string}`);
    if (sample.status !== 200 || sample.headers['x-cache'] !== 'HIT') {
      throw new Error(
        `profile-read: a warmed profile answered ${sample.status} x-cache=${String(sample.headers['x-cache'])}`,
      );
    }

    // The bare route answers each hot id with the very JSON the service answers for it.
    const dir = await mkdtemp(join(tmpdir(), 'bench-bare-'));
    ctx.teardown(() => rm(dir, { recursive: true, force: true }));
    const bodyFile = join(dir, 'profiles.json');
    const bodies: Record<string, string> = {};
    for (const id of hot) bodies[id] = (await httpGet(`${redisOnly.url}/v1/profiles/${id}`)).body;
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
      { metric: BARE, url: bareUrl },
      { metric: TIER_ON, url: tierOn.url },
      { metric: REDIS_ONLY, url: redisOnly.url },
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
    const missRun = async (service: { url: string }, connections: number, durationS: number) => {
      await ensureCold();
      const before = coldUsed;
      const missesBefore = counterValue(
        (await httpGet(`${service.url}/metrics`)).body,
        'profile_cache_misses_total',
      );
      const result = await cannon({
        url: `${service.url}/v1/profiles/x`,
        connections,
        durationS,
        nextPath: nextCold,
      });
      const misses =
        counterValue((await httpGet(`${service.url}/metrics`)).body, 'profile_cache_misses_total') -
        missesBefore;
      lastMissRequests = coldUsed - before;
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
      await missRun(redisOnly, CONNECTIONS, ctx.warmupS);
    }

    const d = ctx.durationS;
    ctx.metric(BARE, { unit: 'req/s' });
    ctx.metric(TIER_ON, { unit: 'req/s', baseline: BARE });
    ctx.metric(REDIS_ONLY, { unit: 'req/s', baseline: BARE });
    ctx.metric('hit, Redis only p99', { unit: 'ms', decimals: 1 });
    ctx.metric('miss (Postgres)', { unit: 'req/s', baseline: REDIS_ONLY });
    ctx.metric('miss p99', { unit: 'ms', decimals: 1 });
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

    await ctx.alternate([
      {
        name: 'cached hits (1 s slices, shuffled)',
        run: async () => {
          const r = await hitSlices(Math.max(1, Math.round(d)));
          const rps = (metric: string) => (r[metric] as { rps: number }).rps;
          return {
            [BARE]: rps(BARE),
            [TIER_ON]: rps(TIER_ON),
            [REDIS_ONLY]: rps(REDIS_ONLY),
            'hit, Redis only p99': (r[REDIS_ONLY] as { p99: number }).p99,
          };
        },
      },
      {
        name: 'miss (Postgres)',
        run: async () => {
          const r = await missRun(redisOnly, CONNECTIONS, d);
          return { 'miss (Postgres)': r.rps, 'miss p99': r.p99 };
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
    for (const c of levels) {
      for (const target of targets) {
        point(target.metric, c, (await hitRun(target, c, sweepS)).rps);
      }
      point('miss (Postgres)', c, (await missRun(redisOnly, c, sweepS)).rps);
      ctx.log(
        `sweep c=${c}: ${Object.entries(series)
          .map(([k, v]) => `${k}=${Math.round(v.at(-1)?.y ?? 0)}`)
          .join(' ')}`,
      );
    }
    for (const [name, points] of Object.entries(series)) ctx.series(name, points);

    const metrics = (await httpGet(`${tierOn.url}/metrics`)).body;
    const redisMetrics = (await httpGet(`${redisOnly.url}/metrics`)).body;
    const keysPerMget =
      counterValueSafe(redisMetrics, 'profile_cache_get_batch_keys_total') /
      counterValueSafe(redisMetrics, 'profile_cache_get_batches_total');
    ctx.note(
      `profile-read: autocannon ${CONNECTIONS} connections, ${d} s per run, over ${HOT_KEYS} hot profiles (hits) or a fresh never-read profile per request (misses); in-process tier TTL is the service default; sweep ${sweepS} s per point at ${levels.join('/')} connections. Hit latency is measured on the Redis-only instance. On the tier-on instance ${(
        (100 * counterValueSafe(metrics, 'profile_cache_hits_total', 'tier="local"')) /
        counterValueSafe(metrics, 'profile_cache_hits_total')
      ).toFixed(
        1,
      )}% of hits came from the in-process tier. The Redis-only instance merged concurrent reads into MGETs of ${keysPerMget.toFixed(1)} keys on average. Cached-read rates come from ${Math.max(1, Math.round(d))} shuffled 1 s slices per target and repetition; their p99 is the median of the slices' p99.`,
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
