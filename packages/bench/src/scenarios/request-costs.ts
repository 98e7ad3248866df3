// request-costs: what one cached profile read costs the service's CPU, part by part (request id,
// logging, security headers, metrics, validation, the route and cache, ioredis, Fastify, node's
// http), from a CPU profile of profile-service as it ships (LOG_LEVEL=info, Redis only, stdout a
// drained pipe) under the profile-read load: the per-hook costs the platform is judged by, in
// microseconds per request (cpu-profile.ts has the attribution rules). Each repetition starts the
// service with `--cpu-prof`, loads it, stops it (the profile is written at exit) and divides each
// part's CPU by the requests the service counted in its own http metric.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PART_NAMES, requestCosts, type CpuProfile } from '../cpu-profile.js';
import { benchEnv, provisionTopology } from '../environment.js';
import type { Scenario } from '../harness.js';
import { cannon } from '../load.js';
import { httpGet } from '../processes.js';
import { ProfileSeeder } from '../seed.js';
import { counterValue, startService } from '../services.js';

const HOT_KEYS = 100;
const CONNECTIONS = 32;
const TOTAL = 'total CPU per request';

export const requestCostsScenario: Scenario = {
  name: 'request-costs',
  description:
    'CPU per cached read by part (hooks, logging, cache, Fastify, node http), from a CPU profile of profile-service at LOG_LEVEL=info',
  async run(ctx) {
    const env = await benchEnv(ctx);
    await provisionTopology(env.nats);
    const seeder = new ProfileSeeder(env.databaseUrl);
    ctx.teardown(() => seeder.close());
    const hot = await seeder.seed(HOT_KEYS);
    let i = 0;
    const nextHot = () => `/v1/profiles/${hot[i++ % hot.length] as string}`;
    const dir = await mkdtemp(join(tmpdir(), 'bench-cpu-prof-'));
    ctx.teardown(() => rm(dir, { recursive: true, force: true }));

    ctx.metric(TOTAL, { unit: 'µs', decimals: 1 });
    for (const part of PART_NAMES) ctx.metric(part, { unit: 'µs', decimals: 1, allowZero: true });

    await ctx.alternate([
      {
        name: 'profiled cached reads',
        run: async (rep) => {
          const profDir = join(dir, String(rep));
          const service = await startService(
            ctx,
            env,
            'profile-service',
            { PROFILE_REDIS_PREFIX: `${env.redisPrefix}costs:`, LOG_LEVEL: 'info' },
            'profile-service (profiled)',
            ['--cpu-prof', `--cpu-prof-dir=${profDir}`],
          );
          for (let n = 0; n < HOT_KEYS; n++) await httpGet(`${service.url}${nextHot()}`);
          const load = (durationS: number) =>
            cannon({
              url: `${service.url}/v1/profiles/x`,
              connections: CONNECTIONS,
              durationS,
              nextPath: nextHot,
            });
          if (ctx.warmupS > 0) await load(ctx.warmupS);
          await load(ctx.durationS);
          const requests = counterValue(
            (await httpGet(`${service.url}/metrics`)).body,
            'http_request_duration_seconds_count',
          );
          await service.child.stop(15_000);
          // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: the main thread is thread 0 (a
          // worker thread, such as Prisma's, writes its own).
          const files = (await readdir(profDir)).filter((f) =>
            /\.\d+\.0\.\d+\.cpuprofile$/.test(f),
          );
          if (files.length !== 1) {
            throw new Error(
              `request-costs: expected one main-thread CPU profile, found ${files.length}`,
            );
          }
          const profile = JSON.parse(
            await readFile(join(profDir, files[0] as string), 'utf8'),
          ) as CpuProfile;
          const { parts, busyUsPerRequest } = requestCosts(profile, requests);
          const out: Record<string, number> = { [TOTAL]: busyUsPerRequest };
          for (const part of PART_NAMES) {
            out[part] = parts.find((p) => p.part === part)?.usPerRequest ?? 0;
          }
          return out;
        },
      },
    ]);
    ctx.note(
      `request-costs: profile-service at LOG_LEVEL=info, Redis only, ${CONNECTIONS} connections over ${HOT_KEYS} hot profiles for ${ctx.durationS} s (plus ${ctx.warmupS} s of warm-up, in the profile too), started with --cpu-prof; CPU per part divided by the requests the service counted (http_request_duration_seconds_count). Start-up (module loading and compiling) and idle time are left out; a hook's part includes what it calls (pino's write inside the request log is the log write).`,
    );
  },
};
