// profile-stampede: one cold key, three profile-service instances, 200 readers at once. Without
// protection each reader would query Postgres; with single-flight in each process and the Redis
// fill lease across them, the database should be read once. Database reads are counted by the
// services themselves (profile_db_reads_total on /metrics, summed over the instances).
import { benchEnv, provisionTopology } from '../environment.js';
import type { Scenario } from '../harness.js';
import { HttpClient, latencySummary } from '../load.js';
import { httpGet } from '../processes.js';
import { ProfileSeeder } from '../seed.js';
import { counterValue, startService, type RunningService } from '../services.js';

const INSTANCES = 3;
const READERS = 200;

async function dbReads(services: RunningService[]): Promise<number> {
  const texts = await Promise.all(services.map((s) => httpGet(`${s.url}/metrics`)));
  return texts.reduce((sum, t) => sum + counterValue(t.body, 'profile_db_reads_total'), 0);
}

export const profileStampede: Scenario = {
  name: 'profile-stampede',
  description: `cold key, ${INSTANCES} instances, ${READERS} concurrent readers: database reads per cold key`,
  target: {
    metric: 'db reads per cold key',
    op: '<=',
    value: 1,
    unit: 'reads',
    text: `${INSTANCES} replicas x ${READERS} concurrent misses on one key cost one database read`,
  },
  async run(ctx) {
    const env = await benchEnv(ctx);
    await provisionTopology(env.nats);
    const seeder = new ProfileSeeder(env.databaseUrl);
    ctx.teardown(() => seeder.close());
    const reps = ctx.reps;
    const ids = await seeder.seed(reps + 1);
    // One after another: what is measured is the burst, not a start-up race for the cores.
    const services: RunningService[] = [];
    for (let i = 1; i <= INSTANCES; i++) {
      services.push(
        await startService(
          ctx,
          env,
          'profile-service',
          { PROFILE_REDIS_PREFIX: `${env.redisPrefix}p:` },
          `profile-service #${i}`,
        ),
      );
    }
    const clients = services.map((s) => new HttpClient(s.url, READERS));
    ctx.teardown(() => clients.forEach((c) => c.close()));
    // Open the sockets first, so the measured burst is 200 requests, not 200 TCP handshakes.
    const warmId = ids[reps] as string;
    await Promise.all(
      Array.from({ length: READERS }, (_, i) =>
        (clients[i % INSTANCES] as HttpClient).send('GET', `/v1/profiles/${warmId}`),
      ),
    );

    ctx.metric('db reads per cold key', { unit: 'reads', allowZero: true });
    ctx.metric('burst p50', { unit: 'ms', decimals: 1 });
    ctx.metric('burst p99', { unit: 'ms', decimals: 1 });
    await ctx.alternate(
      [
        {
          name: 'burst',
          async run(rep) {
            const id = ids[rep] as string;
            const before = await dbReads(services);
            const answers = await Promise.all(
              Array.from({ length: READERS }, (_, i) =>
                (clients[i % INSTANCES] as HttpClient).send('GET', `/v1/profiles/${id}`),
              ),
            );
            const bad = answers.filter((a) => a.status !== 200);
            if (bad.length > 0) {
              throw new Error(
                `profile-stampede: ${bad.length} of ${READERS} readers got ${[...new Set(bad.map((b) => b.status))].join('/')}`,
              );
            }
            if (new Set(answers.map((a) => JSON.parse(a.body).id as string)).size !== 1) {
              throw new Error('profile-stampede: readers got different profiles');
            }
            const reads = (await dbReads(services)) - before;
            const latency = latencySummary(answers.map((a) => a.latencyMs));
            return {
              'db reads per cold key': reads,
              'burst p50': latency.p50,
              'burst p99': latency.p99,
            };
          },
        },
      ],
      reps,
    );
    ctx.note(
      `profile-stampede: ${READERS} GETs of one never-read profile fired at once, spread over ${INSTANCES} instances sharing one Redis; without single-flight and the fill lease this would be ${READERS} database reads.`,
    );
  },
};
