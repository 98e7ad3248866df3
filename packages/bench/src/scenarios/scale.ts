// scale: what spreading the services over replicas behind a balancer costs, in counts a 2-core
// machine can measure rather than speeds it cannot show. Reads: autocannon through a private
// HAProxy in front of 1, 2 and 3 profile-service replicas, on a private single Redis node and on a
// private Redis Cluster (3 masters, 3 replicas); cached reads (Redis-only hits) and a miss-heavy
// variant (every request a profile never read before). Signups: the open-loop driver at a fixed
// rate through a HAProxy in front of 1 and 2 signup-service replicas.
//
// Per measured window: each replica's CPU time (utime + stime from /proc/<pid>/stat, read from
// outside so the measurement costs the replica nothing) over the requests that replica answered
// (its own http_request_duration_seconds_count for the route), the same summed over the replicas
// (the cost of spreading), Redis commands executed per request (INFO commandstats summed over the
// masters, minus the bench's INFO and the clients' housekeeping), and for signups the outbox
// events each replica's relay published. Every server is on one core when pinned (a full run), so
// requests/s is reported for information only: 3 replicas on one core are not 3 times anything.
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  isolatedDatabase,
  startHaproxy,
  startRedisCluster,
  startRedisServer,
  type Haproxy,
  type PrivateRedisCluster,
  type PrivateServer,
} from '@app/testing';
import { Redis } from 'ioredis';
import { benchEnv, provisionTopology } from '../environment.js';
import type { Arm, Scenario, Target } from '../harness.js';
import { cannon, HttpClient, latencySummary, steadyRate, type CannonResult } from '../load.js';
import { httpGet } from '../processes.js';
import { ProfileSeeder } from '../seed.js';
import { counterValue, startService, type RunningService } from '../services.js';
import { BENCH_SCRYPT_LOG_N, EventWatcher, signupBody, startSignupService } from '../signups.js';
import { median } from '../stats.js';

const execFileAsync = promisify(execFile);

const HOT_KEYS = 100;
const CONNECTIONS = 32;
const SIGNUP_RATE = 100;
const MAX_READ_REPLICAS = 3;
const MAX_SIGNUP_REPLICAS = 2;
const PROFILE_ROUTE = 'route="/v1/profiles/:id"';
const SIGNUP_ROUTE = 'route="/v1/signup"';
/** What a client or the bench sends besides the service's own work (connection set-up, slot maps, INFO). */
const HOUSEKEEPING = new Set([
  'info',
  'ping',
  'cluster',
  'command',
  'client',
  'hello',
  'select',
  'readonly',
  'config',
  'auth',
  'script',
  // A Cluster master's replicas acknowledge replication with REPLCONF ACK every second.
  'replconf',
  'psync',
]);

type Mode = 'single' | 'cluster';
const MODE_LABEL: Record<Mode, string> = { single: 'single node', cluster: 'Cluster' };
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

// ---- counts read from outside the processes ----

let clockTicks: number | undefined;
async function ticksPerSecond(): Promise<number> {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number((await execFileAsync('getconf', ['CLK_TCK'])).stdout.trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** CPU time (user + system, every thread) a process has used, in µs, from /proc/<pid>/stat. */
async function cpuUs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // After "pid (comm) ", fields[0] is field 3 (state): utime is field 14, stime field 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  if (!Number.isFinite(ticks)) throw new Error(`scale: no CPU times in /proc/${pid}/stat`);
  return (ticks * 1e6) / (await ticksPerSecond());
}

/** The pid of the process that has `arg` as one of its arguments (a HAProxy by its config path). */
async function pidWithArg(arg: string): Promise<number> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if ((await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0').includes(arg)) {
        return Number(entry);
      }
    } catch {
      // The process ended while we looked.
    }
  }
  throw new Error(`scale: no process runs with ${arg}`);
}

interface RedisReading {
  /** Commands executed (those a script runs included), housekeeping excluded. */
  commands: number;
  byCommand: Map<string, number>;
  cpuUs: number;
}

/** INFO commandstats + cpu of the given nodes, summed (the masters: replicas do not serve reads). */
class RedisCounter {
  private constructor(private readonly clients: Redis[]) {}

  static async connect(ports: number[]): Promise<RedisCounter> {
    const clients = ports.map((port) => {
      const client = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 1 });
      client.on('error', () => undefined);
      return client;
    });
    await Promise.all(clients.map((c) => c.connect()));
    return new RedisCounter(clients);
  }

  /** Of a Cluster's nodes, the masters (asked of each node). */
  static async masters(ports: number[]): Promise<number[]> {
    const counter = await RedisCounter.connect(ports);
    try {
      const roles = await Promise.all(counter.clients.map((c) => c.info('replication')));
      return ports.filter((_, i) => /^role:master\r?$/m.test(roles[i] ?? ''));
    } finally {
      counter.close();
    }
  }

  async read(): Promise<RedisReading> {
    const texts = await Promise.all(
      this.clients.map((c) => c.call('INFO', 'commandstats', 'cpu') as Promise<string>),
    );
    const byCommand = new Map<string, number>();
    let commands = 0;
    let cpu = 0;
    for (const text of texts) {
      for (const line of text.split(/\r?\n/)) {
        const stat = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
        if (stat) {
          const name = stat[1] as string;
          const calls = Number(stat[2]);
          if (HOUSEKEEPING.has(name.split('|')[0] as string)) continue;
          byCommand.set(name, (byCommand.get(name) ?? 0) + calls);
          commands += calls;
        }
        const used = /^used_cpu_(sys|user):([\d.]+)/.exec(line);
        if (used) cpu += Number(used[2]) * 1e6;
      }
    }
    return { commands, byCommand, cpuUs: cpu };
  }

  close(): void {
    for (const c of this.clients) c.disconnect();
  }
}

async function scrape(service: RunningService): Promise<string> {
  const res = await httpGet(`${service.url}/metrics`, 10_000);
  if (res.status !== 200) throw new Error(`scale: ${service.child.label} /metrics ${res.status}`);
  return res.body;
}

const counterOr0 = (text: string, name: string, labels?: string) => {
  try {
    return counterValue(text, name, labels);
  } catch {
    return 0; // A labelled counter appears once it is first incremented.
  }
};

interface Window<T> {
  load: T;
  /** Per replica: CPU µs used, requests answered, and the counters asked for. */
  replicas: Array<{ cpuUs: number; requests: number; counters: Record<string, number> }>;
  redis: RedisReading;
  haproxyCpuUs: number;
}

/**
 * Runs `load` and reports what it cost: per replica the CPU it used and the requests of `route` it
 * answered (plus `counters`), Redis's commands and CPU, HAProxy's CPU, all as deltas over the load.
 */
async function measure<T>(
  replicas: RunningService[],
  haproxyPid: number,
  redis: RedisCounter,
  route: string,
  counters: Record<string, [name: string, labels?: string]>,
  load: () => Promise<T>,
): Promise<Window<T>> {
  const read = (text: string) => {
    const out: Record<string, number> = {
      requests: counterOr0(text, 'http_request_duration_seconds_count', route),
    };
    for (const [key, [name, labels]] of Object.entries(counters))
      out[key] = counterOr0(text, name, labels);
    return out;
  };
  const before = (await Promise.all(replicas.map(scrape))).map(read);
  const redis0 = await redis.read();
  const cpu0 = await Promise.all(replicas.map((r) => cpuUs(r.child.pid)));
  const haproxy0 = await cpuUs(haproxyPid);
  const result = await load();
  const cpu1 = await Promise.all(replicas.map((r) => cpuUs(r.child.pid)));
  const haproxy1 = await cpuUs(haproxyPid);
  const redis1 = await redis.read();
  const after = (await Promise.all(replicas.map(scrape))).map(read);
  const byCommand = new Map<string, number>();
  for (const [name, calls] of redis1.byCommand) {
    const delta = calls - (redis0.byCommand.get(name) ?? 0);
    if (delta > 0) byCommand.set(name, delta);
  }
  return {
    load: result,
    replicas: replicas.map((_, i) => {
      const b = before[i] as Record<string, number>;
      const a = after[i] as Record<string, number>;
      const counters: Record<string, number> = {};
      for (const key of Object.keys(a)) counters[key] = (a[key] ?? 0) - (b[key] ?? 0);
      return {
        cpuUs: (cpu1[i] as number) - (cpu0[i] as number),
        requests: counters.requests ?? 0,
        counters,
      };
    }),
    redis: {
      commands: redis1.commands - redis0.commands,
      byCommand,
      cpuUs: redis1.cpuUs - redis0.cpuUs,
    },
    haproxyCpuUs: haproxy1 - haproxy0,
  };
}

/** Median of each value collected under a key, for the notes. */
class Tally {
  private readonly values = new Map<string, number[]>();
  add(key: string, value: number): void {
    if (!Number.isFinite(value)) return;
    const list = this.values.get(key);
    if (list) list.push(value);
    else this.values.set(key, [value]);
  }
  median(key: string): number {
    return median(this.values.get(key) ?? []);
  }
}

const fmt = (v: number, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : '–');

function commandBreakdown(byCommand: Map<string, number>, requests: number): string {
  return [...byCommand]
    .sort((a, b) => b[1] - a[1])
    .map(([name, calls]) => `${name} ${(calls / requests).toFixed(2)}`)
    .join(', ');
}

// ---- the scenario ----

const readPrefix = (kind: 'hits' | 'misses', n: number, mode: Mode) =>
  `${kind}, ${plural(n, 'replica')}, ${MODE_LABEL[mode]}`;
const signupPrefix = (n: number) => `signups, ${plural(n, 'replica')}`;

const commandsTarget = (n: number, mode: Mode): Target => ({
  metric: `${readPrefix('hits', n, mode)}: Redis commands per read`,
  op: '<=',
  value: 1,
  unit: 'commands',
  text:
    mode === 'single'
      ? 'a cached read is at most one MGET key, and concurrent reads share one MGET'
      : 'at most one MGET per read: one per hash slot of a batch, and a read has one key',
});

interface ReadSetup {
  mode: Mode;
  replicas: RunningService[];
  /** haproxies[n - 1] balances over the first n replicas. */
  haproxies: Array<{ proxy: Haproxy; pid: number }>;
  redis: RedisCounter;
}

export const scaleScenario: Scenario = {
  name: 'scale',
  description: `profile reads through HAProxy on 1/2/3 replicas, Redis single node vs Cluster, and ${SIGNUP_RATE} signups/s on 1 vs 2 replicas: CPU µs per request per replica and Redis commands per request (counts, not speeds)`,
  target: (['single', 'cluster'] as const).flatMap((mode) =>
    [1, 2, 3].map((n) => commandsTarget(n, mode)),
  ),
  async run(ctx) {
    const env = await benchEnv(ctx);
    const { names } = await provisionTopology(env.nats);
    const windowS = Math.max(1, ctx.durationS * 0.6);

    const single: PrivateServer = await startRedisServer();
    ctx.teardown(() => single.close());
    const cluster: PrivateRedisCluster = await startRedisCluster();
    ctx.teardown(() => cluster.close());
    const clusterMasters = await RedisCounter.masters(cluster.ports);
    if (clusterMasters.length !== 3)
      throw new Error(`scale: the Cluster has ${clusterMasters.length} masters, expected 3`);

    const seeder = new ProfileSeeder(env.databaseUrl);
    ctx.teardown(() => seeder.close());
    const hot = await seeder.seed(HOT_KEYS);
    let hotIndex = 0;
    const nextHot = () => `/v1/profiles/${hot[hotIndex++ % hot.length] as string}`;
    const cold: string[] = await seeder.seed(ctx.smoke ? 5_000 : 40_000);
    let coldUsed = 0;
    let lastMissRequests = 2_000;
    const nextCold = () => {
      const id = cold[coldUsed++];
      if (id === undefined) throw new Error('scale: ran out of never-read profiles');
      return `/v1/profiles/${id}`;
    };
    const ensureCold = async () => {
      if (cold.length - coldUsed < lastMissRequests * 2)
        cold.push(...(await seeder.seed(Math.max(20_000, lastMissRequests * 3))));
    };

    const redisEnv = (mode: Mode): Record<string, string> =>
      mode === 'single' ? { REDIS_URL: single.url } : { ...cluster.env };
    const setups: ReadSetup[] = [];
    for (const mode of ['single', 'cluster'] as const) {
      const replicas: RunningService[] = [];
      // One after another, as in every scenario: concurrent start-ups only race for the cores.
      for (let i = 0; i < MAX_READ_REPLICAS; i++) {
        replicas.push(
          await startService(
            ctx,
            env,
            'profile-service',
            {
              ...redisEnv(mode),
              PROFILE_REDIS_PREFIX: `${env.redisPrefix}scale:`,
              PROFILE_LOCAL_CACHE: 'false',
              // Hot entries must stay fresh for the whole run (the default 300 s could expire mid-run).
              PROFILE_CACHE_TTL_SECONDS: '3600',
            },
            `profile-service ${i + 1} (${MODE_LABEL[mode]})`,
          ),
        );
      }
      const haproxies: ReadSetup['haproxies'] = [];
      for (let n = 1; n <= MAX_READ_REPLICAS; n++) {
        const proxy = await startHaproxy({
          backends: [
            {
              name: 'profile-service',
              ports: replicas.slice(0, n).map((r) => Number(new URL(r.url).port)),
              prefixes: ['/v1/profiles/'],
            },
          ],
          checkIntervalMs: 1000,
        });
        ctx.teardown(() => proxy.close());
        await proxy.waitAllUp();
        haproxies.push({ proxy, pid: await pidWithArg(join(proxy.dir, 'haproxy.cfg')) });
      }
      const redis = await RedisCounter.connect(mode === 'single' ? [single.port] : clusterMasters);
      ctx.teardown(() => redis.close());
      setups.push({ mode, replicas, haproxies, redis });

      // Fill the cache (through one replica), then check that what we call a hit is one, on each.
      for (const id of hot) await httpGet(`${replicas[0]?.url}/v1/profiles/${id}`);
      for (const replica of replicas) {
        const probe = new HttpClient(replica.url, 1);
        const res = await probe
          .send('GET', `/v1/profiles/${hot[0] as string}`)
          .finally(() => probe.close());
        if (res.status !== 200 || res.headers['x-cache'] !== 'HIT') {
          throw new Error(
            `scale: a warmed profile answered ${res.status} x-cache=${String(res.headers['x-cache'])} (${replica.child.label})`,
          );
        }
      }
    }

    // What an idle replica costs (timers, consumers, HAProxy's checks): a share of any per-request
    // figure at low rates, spread over fewer requests per replica as replicas are added.
    const idleS = ctx.smoke ? 1 : 2;
    const idle0 = await Promise.all(setups[0]!.replicas.map((r) => cpuUs(r.child.pid)));
    await new Promise((r) => setTimeout(r, idleS * 1000));
    const idle1 = await Promise.all(setups[0]!.replicas.map((r) => cpuUs(r.child.pid)));
    const idleUsPerS = median(idle1.map((v, i) => (v - (idle0[i] as number)) / idleS));

    const tally = new Tally();
    const breakdowns = new Map<string, string>();
    const declareRead = (kind: 'hits' | 'misses', n: number, mode: Mode) => {
      const p = readPrefix(kind, n, mode);
      ctx.metric(`${p}: throughput`, { unit: 'req/s' });
      for (let i = 1; i <= n; i++)
        ctx.metric(`${p}: CPU per read, replica ${i}`, { unit: 'µs', decimals: 0 });
      ctx.metric(`${p}: CPU per read, all replicas`, { unit: 'µs', decimals: 0 });
      ctx.metric(`${p}: Redis commands per read`, { unit: 'commands', decimals: 3 });
    };

    const readArm = (kind: 'hits' | 'misses', n: number, setup: ReadSetup): Arm => {
      const p = readPrefix(kind, n, setup.mode);
      const { proxy, pid } = setup.haproxies[n - 1] as ReadSetup['haproxies'][number];
      const replicas = setup.replicas.slice(0, n);
      return {
        name: p,
        async run() {
          if (kind === 'misses') await ensureCold();
          const coldBefore = coldUsed;
          const w = await measure(
            replicas,
            pid,
            setup.redis,
            PROFILE_ROUTE,
            {
              hits: ['profile_cache_hits_total', 'tier="redis"'],
              misses: ['profile_cache_misses_total'],
              batches: ['profile_cache_get_batches_total'],
              batchKeys: ['profile_cache_get_batch_keys_total'],
            },
            (): Promise<CannonResult> =>
              cannon({
                url: `${proxy.url}/v1/profiles/x`,
                connections: CONNECTIONS,
                durationS: windowS,
                nextPath: kind === 'hits' ? nextHot : nextCold,
              }),
          );
          if (kind === 'misses') lastMissRequests = coldUsed - coldBefore;
          const sum = (key: string) => w.replicas.reduce((s, r) => s + (r.counters[key] ?? 0), 0);
          const requests = sum('requests');
          // The replicas answered what autocannon counted (it may miss the last in-flight few).
          if (requests < w.load.requests * 0.98 || w.replicas.some((r) => r.requests === 0)) {
            throw new Error(
              `scale: ${p}: autocannon counted ${w.load.requests} answers, the replicas ${w.replicas.map((r) => r.requests).join('+')}`,
            );
          }
          const served = sum(kind);
          if (served < requests * 0.99) {
            throw new Error(`scale: ${p}: ${requests} reads but only ${served} ${kind} counted`);
          }
          const out: Record<string, number> = { [`${p}: throughput`]: w.load.rps };
          w.replicas.forEach((r, i) => {
            out[`${p}: CPU per read, replica ${i + 1}`] = r.cpuUs / r.requests;
          });
          out[`${p}: CPU per read, all replicas`] =
            w.replicas.reduce((s, r) => s + r.cpuUs, 0) / requests;
          out[`${p}: Redis commands per read`] = w.redis.commands / requests;
          tally.add(`${p} redis cpu`, w.redis.cpuUs / requests);
          tally.add(`${p} haproxy cpu`, w.haproxyCpuUs / requests);
          tally.add(`${p} keys per mget`, sum('batchKeys') / sum('batches'));
          tally.add(
            `${p} share`,
            Math.max(...w.replicas.map((r) => r.requests)) /
              Math.min(...w.replicas.map((r) => r.requests)),
          );
          breakdowns.set(p, commandBreakdown(w.redis.byCommand, requests));
          return out;
        },
      };
    };

    const readArms: Arm[] = [];
    for (const setup of setups) {
      for (let n = 1; n <= MAX_READ_REPLICAS; n++) {
        declareRead('hits', n, setup.mode);
        readArms.push(readArm('hits', n, setup));
      }
      declareRead('misses', MAX_READ_REPLICAS, setup.mode);
      readArms.push(readArm('misses', MAX_READ_REPLICAS, setup));
    }

    if (ctx.warmupS > 0) {
      ctx.log(`warming up (${ctx.warmupS} s per read configuration)`);
      for (const setup of setups) {
        for (const { proxy } of setup.haproxies) {
          await cannon({
            url: `${proxy.url}/v1/profiles/x`,
            connections: CONNECTIONS,
            durationS: ctx.warmupS,
            nextPath: nextHot,
          });
        }
        await ensureCold();
        const before = coldUsed;
        await cannon({
          url: `${setup.haproxies[MAX_READ_REPLICAS - 1]?.proxy.url}/v1/profiles/x`,
          connections: CONNECTIONS,
          durationS: ctx.warmupS,
          nextPath: nextCold,
        });
        lastMissRequests = coldUsed - before;
      }
    }
    await ctx.alternate(readArms);

    // The read side is done: stop it, so that the signup replicas are the single node's only
    // clients and the server core runs nothing else.
    for (const setup of setups) {
      setup.redis.close();
      for (const { proxy } of setup.haproxies) await proxy.close();
      for (const replica of setup.replicas) await replica.stop();
    }

    // ---- signups: 1 vs 2 replicas behind a balancer, on the single node ----
    const watcher = await EventWatcher.start(env, names);
    ctx.teardown(() => watcher.stop());
    // Each configuration on its own database: the relays of every replica on one database share
    // its outbox, so a replica outside the balancer would still publish the others' events.
    const databases = [env.databaseUrl];
    for (let n = 2; n <= MAX_SIGNUP_REPLICAS; n++)
      databases.push((await isolatedDatabase(ctx)).url);
    const signupGroups: Array<{
      replicas: RunningService[];
      pid: number;
      client: HttpClient;
    }> = [];
    for (let n = 1; n <= MAX_SIGNUP_REPLICAS; n++) {
      const replicas: RunningService[] = [];
      for (let i = 0; i < n; i++) {
        replicas.push(
          await startSignupService(
            ctx,
            env,
            { REDIS_URL: single.url, DATABASE_URL: databases[n - 1] as string },
            `signup-service ${i + 1} of ${n}`,
          ),
        );
      }
      const proxy = await startHaproxy({
        backends: [
          {
            name: 'signup-service',
            ports: replicas.map((r) => Number(new URL(r.url).port)),
            paths: ['/v1/signup'],
          },
        ],
        checkIntervalMs: 1000,
      });
      ctx.teardown(() => proxy.close());
      await proxy.waitAllUp();
      const client = new HttpClient(proxy.url, 512);
      ctx.teardown(() => client.close());
      signupGroups.push({
        replicas,
        pid: await pidWithArg(join(proxy.dir, 'haproxy.cfg')),
        client,
      });
    }
    const signupRedis = await RedisCounter.connect([single.port]);
    ctx.teardown(() => signupRedis.close());

    const burst = async (client: HttpClient, replicas: RunningService[], seconds: number) => {
      // A replica that dies fails the run with its output rather than as a timeout.
      const { results } = await replicas.reduce(
        (p, r) => r.child.guard(p),
        steadyRate(SIGNUP_RATE, seconds, () => client.send('POST', '/v1/signup', signupBody())),
      );
      const bad = results.filter((r) => r.status !== 201);
      if (bad.length > 0) {
        throw new Error(
          `scale: ${bad.length} of ${results.length} signups failed: HTTP ${bad[0]?.status} ${bad[0]?.body.slice(0, 300)}`,
        );
      }
      // The window closes once every signup's event is on the stream: the relays' work is in it.
      await watcher.waitFor(
        results.map((r) => (JSON.parse(r.body) as { userId: string }).userId),
        30_000,
      );
      return latencySummary(results.map((r) => r.latencyMs));
    };

    const signupArm = (n: number): Arm => {
      const p = signupPrefix(n);
      const { client, pid, replicas } = signupGroups[n - 1] as (typeof signupGroups)[number];
      for (let i = 1; i <= n; i++) {
        ctx.metric(`${p}: CPU per signup, replica ${i}`, { unit: 'µs', decimals: 0 });
      }
      ctx.metric(`${p}: CPU per signup, all replicas`, { unit: 'µs', decimals: 0 });
      for (let i = 1; i <= n; i++) {
        // One relay may claim a whole batch before the other wakes: 0 is a possible share.
        ctx.metric(`${p}: events published by replica ${i}`, {
          unit: '% of signups',
          decimals: 1,
          allowZero: n > 1,
        });
      }
      ctx.metric(`${p}: Redis commands per signup`, { unit: 'commands', decimals: 2 });
      ctx.metric(`${p}: signup p50`, { unit: 'ms', decimals: 1 });
      return {
        name: p,
        async run() {
          const w = await measure(
            replicas,
            pid,
            signupRedis,
            SIGNUP_ROUTE,
            { published: ['outbox_published_total'] },
            () => burst(client, replicas, windowS),
          );
          const signups = w.replicas.reduce((s, r) => s + r.requests, 0);
          const published = w.replicas.reduce((s, r) => s + (r.counters.published ?? 0), 0);
          if (published < signups || w.replicas.some((r) => r.requests === 0)) {
            throw new Error(
              `scale: ${p}: ${signups} signups (${w.replicas.map((r) => r.requests).join('+')}) but ${published} events published`,
            );
          }
          const out: Record<string, number> = {};
          w.replicas.forEach((r, i) => {
            out[`${p}: CPU per signup, replica ${i + 1}`] = r.cpuUs / r.requests;
            out[`${p}: events published by replica ${i + 1}`] =
              (100 * (r.counters.published ?? 0)) / signups;
          });
          out[`${p}: CPU per signup, all replicas`] =
            w.replicas.reduce((s, r) => s + r.cpuUs, 0) / signups;
          out[`${p}: Redis commands per signup`] = w.redis.commands / signups;
          out[`${p}: signup p50`] = w.load.p50;
          tally.add(`${p} haproxy cpu`, w.haproxyCpuUs / signups);
          tally.add(`${p} published per signup`, published / signups);
          breakdowns.set(p, commandBreakdown(w.redis.byCommand, signups));
          return out;
        },
      };
    };
    const signupArms = [1, 2].map(signupArm);
    if (ctx.warmupS > 0) {
      ctx.log(`warming up (${ctx.warmupS} s per signup configuration)`);
      for (let n = 1; n <= MAX_SIGNUP_REPLICAS; n++) {
        const group = signupGroups[n - 1] as (typeof signupGroups)[number];
        await burst(group.client, group.replicas, ctx.warmupS);
      }
    }
    await ctx.alternate(signupArms);

    // ---- notes ----
    const readNote = (kind: 'hits' | 'misses', n: number, mode: Mode) => {
      const p = readPrefix(kind, n, mode);
      return `${p}: Redis CPU ${fmt(tally.median(`${p} redis cpu`))} µs/read, HAProxy CPU ${fmt(tally.median(`${p} haproxy cpu`))} µs/read, ${fmt(tally.median(`${p} keys per mget`))} keys per batched lookup, busiest/idlest replica ${fmt(tally.median(`${p} share`), 2)}×, Redis commands per read by command (last repetition): ${breakdowns.get(p) ?? '–'}`;
    };
    const where = ctx.pinning.applied
      ? `pinned to core ${ctx.pinning.serverCpus}, autocannon and the signup driver on core ${ctx.pinning.loadCpus}`
      : 'unpinned';
    ctx.note(
      `scale: every service replica (${MAX_READ_REPLICAS} profile-service per Redis mode, then 1 + ${MAX_SIGNUP_REPLICAS} signup-service, each signup configuration on its own database so that only its replicas' relays share its outbox) ${where}; HAProxy, the private Redis node and the private Cluster (3 masters + 3 replicas) unpinned. All replicas share one core, so requests/s does not scale with replicas and is for information only; the figures to read are per request. Windows of ${fmt(windowS)} s; autocannon ${CONNECTIONS} connections over ${HOT_KEYS} hot profiles (hits from Redis: PROFILE_LOCAL_CACHE=false, TTL 3600 s; with the in-process tier a hit sends no Redis command) or a never-read profile per request (misses); HAProxy roundrobin, checks every 1 s. CPU = utime+stime from /proc/<pid>/stat (${await ticksPerSecond()} ticks/s) over the window; per replica over the requests it answered (its http_request_duration_seconds_count for the route), "all replicas" = their CPU summed over all requests; an idle replica uses ${fmt(idleUsPerS / 1000, 1)} ms CPU/s (timers, consumer pulls, health checks), included. Redis commands = INFO commandstats summed over the node or the Cluster's 3 masters, a script's own calls counted as well as its EVALSHA (as total_commands_processed counts them), housekeeping (INFO, CLUSTER, CLIENT, PING, COMMAND, REPLCONF) excluded. They are commands, not round trips: ioredis auto-pipelines what is issued in one event-loop turn, and Redis does not count round trips. A hit on one node is 1/(keys per batched lookup) MGETs; on a Cluster the batch is split per hash slot and every profile key has its own slot, so one MGET per read.`,
    );
    const notes: string[] = [];
    for (const mode of ['single', 'cluster'] as const) {
      for (let n = 1; n <= MAX_READ_REPLICAS; n++) notes.push(readNote('hits', n, mode));
      notes.push(readNote('misses', MAX_READ_REPLICAS, mode));
    }
    for (let n = 1; n <= MAX_SIGNUP_REPLICAS; n++) {
      const p = signupPrefix(n);
      notes.push(
        `${p}: HAProxy CPU ${fmt(tally.median(`${p} haproxy cpu`))} µs/signup, ${fmt(tally.median(`${p} published per signup`), 2)} outbox events published per signup, Redis commands per signup by command (last repetition): ${breakdowns.get(p) ?? '–'}`,
      );
    }
    ctx.note(`scale, per configuration (medians): ${notes.join('. ')}.`);
    ctx.note(
      `scale, signups: open loop ${SIGNUP_RATE} signups/s for ${fmt(windowS)} s per window through HAProxy, KDF scrypt N=2^${BENCH_SCRYPT_LOG_N}; a window ends once every signup's user.signed_up is on the stream, so the relays' publishing is in it. With 2 replicas a replica's CPU per signup includes its relay's publishing of the other's events (claimed with FOR UPDATE SKIP LOCKED: whichever relay claims first).`,
    );
  },
};
