// profile-read: GET /v1/profiles/:id throughput with autocannon against one profile-service
// instance, for cached reads with the in-process tier on and off, against the baseline of a bare
// route in the same process shape answering the same JSON from memory; plus the miss path
// (Postgres, every request a profile never read before) and hit vs miss latency on one connection,
// and a concurrency sweep for the plot. Server on core 1, autocannon on core 0.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@app/testing';
import { benchEnv, PACKAGE_DIR, provisionTopology } from '../environment.js';
import type { Scenario, SeriesPoint } from '../harness.js';
import { cannon, HttpClient, latencySummary } from '../load.js';
import { httpGet, startChild, waitReady } from '../processes.js';
import { ProfileSeeder } from '../seed.js';
import { counterValue, startService, type RunningService } from '../services.js';

const HOT_KEYS = 100;
const CONNECTIONS = 32;

export const profileRead: Scenario = {
  name: 'profile-read',
  description:
    'cached profile reads (in-process tier on / Redis only) vs a bare route with the same JSON; miss path; hit vs miss latency',
  target: [
    {
      metric: 'hit, in-process tier on',
      op: '>=',
      value: 0.9,
      unit: '× bare route',
      text: 'at least 90% of the bare route requests/s',
      of: 'ratio',
    },
    {
      metric: 'hit, Redis only',
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
    const nextHot = () => `/v1/profiles/${hot[hotIndex++ % hot.length] as string}`;

    const profileEnv = (local: boolean) => ({
      PROFILE_REDIS_PREFIX: `${env.redisPrefix}${local ? 'local' : 'redis'}:`,
      PROFILE_LOCAL_CACHE: String(local),
    });
    const [tierOn, redisOnly] = await Promise.all([
      startService(ctx, env, 'profile-service', profileEnv(true), 'profile-service (tier on)'),
      startService(ctx, env, 'profile-service', profileEnv(false), 'profile-service (Redis only)'),
    ]);

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

    const dir = await mkdtemp(join(tmpdir(), 'bench-bare-'));
    ctx.teardown(() => rm(dir, { recursive: true, force: true }));
    const bodyFile = join(dir, 'profile.json');
    await writeFile(bodyFile, sample.body);
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

    const hitRun = (url: string, connections: number, durationS: number) =>
      cannon({ url: `${url}/v1/profiles/x`, connections, durationS, nextPath: nextHot });
    const missRun = async (service: RunningService, connections: number, durationS: number) => {
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
      await hitRun(bareUrl, CONNECTIONS, ctx.warmupS);
      await hitRun(tierOn.url, CONNECTIONS, ctx.warmupS);
      await hitRun(redisOnly.url, CONNECTIONS, ctx.warmupS);
      await missRun(redisOnly, CONNECTIONS, ctx.warmupS);
    }

    const d = ctx.durationS;
    ctx.metric('bare route', { unit: 'req/s' });
    ctx.metric('hit, in-process tier on', { unit: 'req/s', baseline: 'bare route' });
    ctx.metric('hit, Redis only', { unit: 'req/s', baseline: 'bare route' });
    ctx.metric('hit, Redis only p99', { unit: 'ms', decimals: 1 });
    ctx.metric('miss (Postgres)', { unit: 'req/s', baseline: 'hit, Redis only' });
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
        name: 'bare route',
        run: async () => ({ 'bare route': (await hitRun(bareUrl, CONNECTIONS, d)).rps }),
      },
      {
        name: 'hit, in-process tier on',
        run: async () => ({
          'hit, in-process tier on': (await hitRun(tierOn.url, CONNECTIONS, d)).rps,
        }),
      },
      {
        name: 'hit, Redis only',
        run: async () => {
          const r = await hitRun(redisOnly.url, CONNECTIONS, d);
          return { 'hit, Redis only': r.rps, 'hit, Redis only p99': r.p99 };
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
    const series: Record<string, SeriesPoint[]> = {
      'bare route (baseline)': [],
      'hit, in-process tier on': [],
      'hit, Redis only': [],
      'miss (Postgres)': [],
    };
    for (const c of levels) {
      series['bare route (baseline)']?.push({ x: c, y: (await hitRun(bareUrl, c, sweepS)).rps });
      series['hit, in-process tier on']?.push({
        x: c,
        y: (await hitRun(tierOn.url, c, sweepS)).rps,
      });
      series['hit, Redis only']?.push({ x: c, y: (await hitRun(redisOnly.url, c, sweepS)).rps });
      series['miss (Postgres)']?.push({ x: c, y: (await missRun(redisOnly, c, sweepS)).rps });
      ctx.log(
        `sweep c=${c}: ${Object.entries(series)
          .map(([k, v]) => `${k}=${Math.round(v.at(-1)?.y ?? 0)}`)
          .join(' ')}`,
      );
    }
    for (const [name, points] of Object.entries(series)) ctx.series(name, points);

    const metrics = (await httpGet(`${tierOn.url}/metrics`)).body;
    ctx.note(
      `profile-read: autocannon ${CONNECTIONS} connections, ${d} s per run, over ${HOT_KEYS} hot profiles (hits) or a fresh never-read profile per request (misses); in-process tier TTL is the service default; sweep ${sweepS} s per point at ${levels.join('/')} connections. Hit latency is measured on the Redis-only instance. On the tier-on instance ${(
        (100 * counterValueSafe(metrics, 'profile_cache_hits_total', 'tier="local"')) /
        counterValueSafe(metrics, 'profile_cache_hits_total')
      ).toFixed(1)}% of hits came from the in-process tier.`,
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
