// signup-to-event: at a steady 200 signups/s, how long from the client holding its 201 until the
// user's user.signed_up event is on the stream (read back through a JetStream consumer, matched by
// userId). That is the outbox relay's delay: commit, NOTIFY, publish, PubAck. The relay may win the
// race against the HTTP response; such an event counts as 0 ms (it was already there).
import { benchEnv, provisionTopology } from '../environment.js';
import type { Scenario } from '../harness.js';
import { HttpClient, latencySummary, steadyRate } from '../load.js';
import { BENCH_SCRYPT_LOG_N, EventWatcher, signupBody, startSignupService } from '../signups.js';

const RATE = 200;

export const signupToEvent: Scenario = {
  name: 'signup-to-event',
  description: `signup 201 -> user.signed_up on the stream, p50/p99 at a steady ${RATE} signups/s`,
  target: {
    metric: 'event latency p99',
    op: '<=',
    value: 50,
    unit: 'ms',
    text: `p99 under 50 ms at ${RATE} signups/s`,
  },
  async run(ctx) {
    const env = await benchEnv(ctx);
    const { names } = await provisionTopology(env.nats);
    const watcher = await EventWatcher.start(env, names);
    ctx.teardown(() => watcher.stop());
    const service = await startSignupService(ctx, env);
    const client = new HttpClient(service.url, 512);
    ctx.teardown(() => client.close());

    const burst = async (seconds: number) => {
      const { results, achievedRate } = await service.child.guard(
        steadyRate(RATE, seconds, async () => client.send('POST', '/v1/signup', signupBody())),
      );
      const bad = results.filter((r) => r.status !== 201);
      if (bad.length > 0) {
        throw new Error(
          `signup-to-event: ${bad.length} of ${results.length} signups failed: HTTP ${bad[0]?.status} ${bad[0]?.body.slice(0, 300)}`,
        );
      }
      const answered = results.map((r) => ({
        userId: (JSON.parse(r.body) as { userId: string }).userId,
        at: r.at,
      }));
      await watcher.waitFor(
        answered.map((a) => a.userId),
        30_000,
      );
      const lags = answered.map((a) => (watcher.arrivals.get(a.userId) as number) - a.at);
      return {
        lags: lags.map((l) => Math.max(0, l)),
        early: lags.filter((l) => l <= 0).length / lags.length,
        signup: latencySummary(results.map((r) => r.latencyMs)),
        achievedRate,
      };
    };

    if (ctx.warmupS > 0) {
      ctx.log(`warming up (${ctx.warmupS} s)`);
      await burst(ctx.warmupS);
    }
    ctx.metric('event latency p50', { unit: 'ms', decimals: 1, allowZero: true });
    ctx.metric('event latency p99', { unit: 'ms', decimals: 1, allowZero: true });
    ctx.metric('signup p50', { unit: 'ms', decimals: 1 });
    ctx.metric('signup p99', { unit: 'ms', decimals: 1 });
    ctx.metric('achieved rate', { unit: 'signups/s' });
    ctx.metric('events on the stream before the 201', { unit: '%', allowZero: true, decimals: 1 });
    const seconds = ctx.smoke ? ctx.durationS : ctx.durationS * 2;
    await ctx.alternate([
      {
        name: `steady ${RATE}/s`,
        async run() {
          const r = await burst(seconds);
          const lag = latencySummary(r.lags);
          return {
            'event latency p50': lag.p50,
            'event latency p99': lag.p99,
            'signup p50': r.signup.p50,
            'signup p99': r.signup.p99,
            'achieved rate': r.achievedRate,
            'events on the stream before the 201': r.early * 100,
          };
        },
      },
    ]);
    ctx.note(
      `signup-to-event: open-loop ${RATE} signups/s for ${seconds} s per repetition; KDF scrypt N=2^${BENCH_SCRYPT_LOG_N}, r=8, p=1 (1 MiB; the service default is 2^15, about 35x the CPU per signup); latency = arrival through a JetStream pull consumer minus the 201's arrival, same clock.`,
    );
  },
};
