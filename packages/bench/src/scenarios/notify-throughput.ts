// notify-throughput: how fast the welcome-email pipeline drains a waiting backlog, against two
// baselines measured in the same run: the raw consume+ack rate of the same stream (a no-op handler:
// the ceiling) and the same pipeline on BullMQ (the alternative a user would pick). Every arm drains
// a backlog prepared while its consumer was stopped, and is timed from its first completed event to
// its Nth, so process start-up never counts.
import { AckPolicy, DeliverPolicy } from '@nats-io/jetstream';
import { startSmtpSink, type SmtpMessage } from '@app/testing';
import { Queue } from 'bullmq';
import { benchEnv, PACKAGE_DIR, provisionTopology } from '../environment.js';
import { signupEnvelope, publishSignups } from '../events.js';
import type { Scenario } from '../harness.js';
import { startChild } from '../processes.js';
import { startService } from '../services.js';

const CONCURRENCY = 16; // notification-service's default NOTIFY_CONCURRENCY
const MAX_ACK_PENDING = 64; // and its default max_ack_pending (WELCOME_EMAIL_DEFAULTS)

function rateOf(messages: SmtpMessage[], count: number): number {
  const first = messages[0]?.receivedAt.getTime() ?? 0;
  const last = messages[count - 1]?.receivedAt.getTime() ?? 0;
  // Millisecond timestamps: a span under 1 ms would be infinite, so floor it at 1 ms.
  return ((count - 1) / Math.max(1, last - first)) * 1000;
}

export const notifyThroughput: Scenario = {
  name: 'notify-throughput',
  description:
    'welcome-email pipeline events/s draining a backlog vs raw consume+ack and vs the same pipeline on BullMQ',
  target: {
    metric: 'notification-service',
    op: '>=',
    value: 1,
    unit: '× BullMQ',
    text: 'at least the BullMQ pipeline rate',
    of: 'ratio',
  },
  async run(ctx) {
    const count = ctx.smoke ? 300 : 5_000;
    const env = await benchEnv(ctx);
    const topo = await provisionTopology(env.nats);
    const names = topo.names;
    const sink = await startSmtpSink();
    ctx.teardown(() => sink.close());
    const timeoutMs = Math.max(60_000, (count / 50) * 1000);
    // The raw arm publishes to its own subject in the same stream, so that the welcome-email
    // consumer never sees its messages (and the raw consumer never sees the service's).
    const rawSubject = `${names.namespace}.user.bench_raw`;
    const queueName = 'welcome-email';
    const bullPrefix = `${env.redisPrefix}bull`;
    const queue = new Queue(queueName, {
      connection: {
        host: new URL(env.redisUrl).hostname,
        port: Number(new URL(env.redisUrl).port || 6379),
      },
      prefix: bullPrefix,
    });
    ctx.teardown(() => queue.close());

    ctx.metric('raw-consume-ack', { unit: 'events/s' });
    ctx.metric('bullmq-pipeline', { unit: 'events/s' });
    ctx.metric('notification-service', { unit: 'events/s', baseline: 'bullmq-pipeline' });
    ctx.metric('notification-service vs raw', { unit: 'events/s', baseline: 'raw-consume-ack' });
    ctx.note(
      `notify-throughput: ${count.toLocaleString('en-US')} events per arm and repetition; concurrency ${CONCURRENCY}, max_ack_pending ${MAX_ACK_PENDING} (the service defaults) for every arm; pooled SMTP (10 connections) to a local smtp-server sink with no delay; timed first->last completion.`,
    );

    const serviceEnv = {
      SMTP_URL: sink.url,
      NOTIFY_CONCURRENCY: String(CONCURRENCY),
      NOTIFY_MAX_ACK_PENDING: String(MAX_ACK_PENDING),
    };
    let jetstreamRate = 0;

    await ctx.alternate([
      {
        name: 'notification-service',
        async run() {
          sink.clear();
          await publishSignups(env.nats.js, names.subjects.userSignedUp, count);
          const service = await startService(ctx, env, 'notification-service', serviceEnv);
          try {
            const messages = await service.child.guard(sink.waitFor(count, timeoutMs));
            jetstreamRate = rateOf(messages, count);
          } finally {
            await service.stop();
          }
          return {
            'notification-service': jetstreamRate,
            'notification-service vs raw': jetstreamRate,
          };
        },
      },
      {
        name: 'bullmq-pipeline',
        async run() {
          sink.clear();
          const jobs = Array.from({ length: count }, (_, i) => {
            const event = signupEnvelope(i);
            return {
              name: 'welcome',
              data: event,
              opts: {
                jobId: event.id,
                attempts: 6,
                backoff: { type: 'exponential', delay: 1000 },
                removeOnComplete: true,
                removeOnFail: 1000,
              },
            };
          });
          for (let i = 0; i < jobs.length; i += 1000) await queue.addBulk(jobs.slice(i, i + 1000));
          const worker = startChild({
            script: 'src/children/bullmq-pipeline.ts',
            cwd: PACKAGE_DIR,
            env: {
              REDIS_URL: env.redisUrl,
              DATABASE_URL: env.databaseUrl,
              SMTP_URL: sink.url,
              BENCH_QUEUE: queueName,
              BENCH_PREFIX: bullPrefix,
              BENCH_CONCURRENCY: String(CONCURRENCY),
            },
            pinning: ctx.pinning,
            label: 'bullmq worker',
            ipc: true,
          });
          ctx.teardown(() => worker.stop());
          try {
            const messages = await worker.guard(sink.waitFor(count, timeoutMs));
            return { 'bullmq-pipeline': rateOf(messages, count) };
          } finally {
            await worker.stop();
          }
        },
      },
      {
        name: 'raw-consume-ack',
        async run() {
          const before = await env.nats.jsm.streams.info(names.streams.users);
          await publishSignups(env.nats.js, rawSubject, count);
          const durable = `bench-raw-${Date.now()}`;
          await env.nats.jsm.consumers.add(names.streams.users, {
            durable_name: durable,
            filter_subject: rawSubject,
            ack_policy: AckPolicy.Explicit,
            deliver_policy: DeliverPolicy.StartSequence,
            opt_start_seq: before.state.last_seq + 1,
            max_ack_pending: MAX_ACK_PENDING,
          });
          const child = startChild({
            script: 'src/children/raw-consumer.ts',
            cwd: PACKAGE_DIR,
            env: {
              NATS_URL: env.natsUrl,
              BENCH_STREAM: names.streams.users,
              BENCH_DURABLE: durable,
              BENCH_COUNT: String(count),
              BENCH_BATCH: String(Math.min(MAX_ACK_PENDING, CONCURRENCY * 2)),
            },
            pinning: ctx.pinning,
            label: 'raw consumer',
            ipc: true,
          });
          ctx.teardown(() => child.stop());
          try {
            const done = await child.guard(
              new Promise<{ count: number; elapsedMs: number }>((resolve) => {
                child.process.on(
                  'message',
                  (m: { type?: string; count: number; elapsedMs: number }) => {
                    if (m.type === 'done') resolve(m);
                  },
                );
              }),
            );
            if (done.count !== count) throw new Error(`raw consumer saw ${done.count} of ${count}`);
            return { 'raw-consume-ack': ((count - 1) / Math.max(0.001, done.elapsedMs)) * 1000 };
          } finally {
            await child.stop();
            await env.nats.jsm.consumers.delete(names.streams.users, durable);
          }
        },
      },
    ]);
  },
};
