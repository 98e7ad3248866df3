// signup-slow-smtp: does a slow email provider slow down signups? signup-service and
// notification-service run together; the SMTP sink answers either at once or after 2 s per
// message, alternating within one run, while signups arrive at a steady rate. The queue between
// them should keep signup p99 the same in both.
import { startSmtpSink } from '@app/testing';
import { benchEnv, provisionTopology } from '../environment.js';
import type { Scenario } from '../harness.js';
import { HttpClient, latencySummary, steadyRate } from '../load.js';
import { startService } from '../services.js';
import { BENCH_SCRYPT_LOG_N, signupBody, startSignupService } from '../signups.js';

const RATE = 100;
const SLOW_MS = 2000;

export const signupSlowSmtp: Scenario = {
  name: 'signup-slow-smtp',
  description: `signup p99 at ${RATE}/s with the SMTP server answering in ${SLOW_MS / 1000} s vs at once`,
  target: {
    metric: 'signup p99, slow SMTP',
    op: '<=',
    value: 1.25,
    unit: '× fast SMTP',
    text: 'p99 unchanged within noise (at most 25% above the fast-SMTP run)',
    of: 'ratio',
  },
  async run(ctx) {
    const env = await benchEnv(ctx);
    await provisionTopology(env.nats);
    const sink = await startSmtpSink();
    ctx.teardown(() => sink.close());
    const signup = await startSignupService(ctx, env);
    await startService(ctx, env, 'notification-service', { SMTP_URL: sink.url });
    const client = new HttpClient(signup.url, 512);
    ctx.teardown(() => client.close());

    const run = async (seconds: number) => {
      const { results } = await signup.child.guard(
        steadyRate(RATE, seconds, () => client.send('POST', '/v1/signup', signupBody())),
      );
      const bad = results.filter((r) => r.status !== 201);
      if (bad.length > 0) {
        throw new Error(
          `signup-slow-smtp: ${bad.length} of ${results.length} signups failed: HTTP ${bad[0]?.status} ${bad[0]?.body.slice(0, 300)}`,
        );
      }
      return latencySummary(results.map((r) => r.latencyMs));
    };

    if (ctx.warmupS > 0) {
      ctx.log(`warming up (${ctx.warmupS} s)`);
      await run(ctx.warmupS);
    }
    ctx.metric('signup p50, fast SMTP', { unit: 'ms', decimals: 1 });
    ctx.metric('signup p99, fast SMTP', { unit: 'ms', decimals: 1 });
    ctx.metric('signup p50, slow SMTP', {
      unit: 'ms',
      decimals: 1,
      baseline: 'signup p50, fast SMTP',
    });
    ctx.metric('signup p99, slow SMTP', {
      unit: 'ms',
      decimals: 1,
      baseline: 'signup p99, fast SMTP',
    });
    await ctx.alternate([
      {
        name: 'fast SMTP',
        async run() {
          sink.setDelay(0);
          const r = await run(ctx.durationS);
          return { 'signup p50, fast SMTP': r.p50, 'signup p99, fast SMTP': r.p99 };
        },
      },
      {
        name: `slow SMTP (${SLOW_MS} ms/message)`,
        async run() {
          sink.setDelay(SLOW_MS);
          const r = await run(ctx.durationS);
          return { 'signup p50, slow SMTP': r.p50, 'signup p99, slow SMTP': r.p99 };
        },
      },
    ]);
    // Emails must actually flow, or the comparison would mean nothing.
    await sink.waitFor(1, 30_000);
    ctx.note(
      `signup-slow-smtp: open-loop ${RATE} signups/s for ${ctx.durationS} s per arm, arms alternating in one run; signup-service and notification-service both on the server core; KDF scrypt N=2^${BENCH_SCRYPT_LOG_N}; ${sink.messages.length} welcome emails delivered by the end.`,
    );
  },
};
