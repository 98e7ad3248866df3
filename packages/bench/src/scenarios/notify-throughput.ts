// notify-throughput: how fast the welcome-email pipeline drains a waiting backlog, against what
// bounds it, measured in the same run: each stage of the pipeline alone (the SMTP send through the
// service's mailer, the claim and mark statements of its delivery ledger, validation + rendering),
// whose slowest is the ceiling the pipeline can approach; the raw consume+ack rate of the same
// stream (a no-op handler); and the same pipeline on BullMQ (the alternative a user would pick).
// Every arm runs in its own process on the server core, alternating with the others. The service
// and BullMQ drain a backlog prepared while their consumer was stopped, and every arm is timed from
// its first completed event to its Nth, so process start-up never counts. The stages run the
// service's own modules (children/notification-modules.ts), so they measure what it runs.
import { AckPolicy, DeliverPolicy } from '@nats-io/jetstream';
import { startSmtpSink, type SmtpMessage } from '@app/testing';
import { Queue } from 'bullmq';
import { join } from 'node:path';
import {
  benchEnv,
  commonServiceEnv,
  PACKAGE_DIR,
  provisionTopology,
  serviceDir,
} from '../environment.js';
import { signupEnvelope, publishSignups } from '../events.js';
import type { Scenario } from '../harness.js';
import { startChild, type Child } from '../processes.js';
import { counterValue, serviceEntry, startService } from '../services.js';

const CONCURRENCY = 16; // notification-service's default NOTIFY_CONCURRENCY
const MAX_ACK_PENDING = 64; // and its default max_ack_pending (WELCOME_EMAIL_DEFAULTS)

const SERVICE = 'notification-service';
const VS_BULLMQ = 'notification-service vs BullMQ';
const VS_RAW = 'notification-service vs raw';
const BULLMQ = 'bullmq-pipeline';
const RAW = 'raw-consume-ack';
const SMTP_STAGE = 'stage: SMTP send alone';
const LEDGER_STAGE = 'stage: claim + mark alone';
const RENDER_STAGE = 'stage: validate + render alone';
const SLOWEST = 'slowest stage';
const STAGES = [SMTP_STAGE, LEDGER_STAGE, RENDER_STAGE] as const;

function rateOf(messages: SmtpMessage[], count: number): number {
  const first = messages[0]?.receivedAt.getTime() ?? 0;
  const last = messages[count - 1]?.receivedAt.getTime() ?? 0;
  // Millisecond timestamps: a span under 1 ms would be infinite, so floor it at 1 ms.
  return ((count - 1) / Math.max(1, last - first)) * 1000;
}

interface Done {
  count: number;
  elapsedMs: number;
}

/** The `done` report of a bench child (rejects if the child exits first). */
function doneOf(child: Child): Promise<Done> {
  return child.guard(
    new Promise<Done>((resolve) => {
      child.process.on('message', (m: { type?: string } & Done) => {
        if (m.type === 'done') resolve(m);
      });
    }),
  );
}

/** The header names of an email, in order: two arms that render alike send the same ones. */
const headerNames = (m: SmtpMessage | undefined) =>
  (m?.headerList ?? []).map(([name]) => name.toLowerCase()).join(', ');

export const notifyThroughput: Scenario = {
  name: 'notify-throughput',
  description:
    'welcome-email pipeline events/s draining a backlog vs its slowest stage alone, vs the same pipeline on BullMQ, and vs raw consume+ack',
  target: [
    {
      metric: SERVICE,
      op: '>=',
      value: 0.8,
      unit: '× slowest stage',
      text: 'at least 0.8× the rate of its slowest stage measured alone',
      of: 'ratio',
    },
    {
      metric: VS_BULLMQ,
      op: '>=',
      value: 1.5,
      unit: '× BullMQ',
      text: 'at least 1.5× the BullMQ pipeline rate',
      of: 'ratio',
    },
  ],
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

    ctx.metric(SMTP_STAGE, { unit: 'events/s' });
    ctx.metric(LEDGER_STAGE, { unit: 'events/s' });
    ctx.metric(RENDER_STAGE, { unit: 'events/s' });
    ctx.metric(SLOWEST, { unit: 'events/s' });
    ctx.metric(RAW, { unit: 'events/s' });
    ctx.metric(BULLMQ, { unit: 'events/s' });
    ctx.metric(SERVICE, { unit: 'events/s', baseline: SLOWEST });
    ctx.metric(VS_BULLMQ, { unit: 'events/s', baseline: BULLMQ });
    ctx.metric(VS_RAW, { unit: 'events/s', baseline: RAW });

    const serviceEnv = {
      SMTP_URL: sink.url,
      NOTIFY_CONCURRENCY: String(CONCURRENCY),
      NOTIFY_MAX_ACK_PENDING: String(MAX_ACK_PENDING),
    };
    // The stages load the service's modules from what the bench runs: its build, or its sources.
    const dir = serviceDir('notification-service');
    const serviceRoot = join(dir, serviceEntry(dir).startsWith('dist/') ? 'dist' : 'src');
    const stageEnv = {
      ...commonServiceEnv(env, 0),
      ...serviceEnv,
      BENCH_SERVICE_ROOT: serviceRoot,
      BENCH_COUNT: String(count),
    };
    const stage = (script: string, label: string, extra: Record<string, string> = {}) => {
      const child = startChild({
        script,
        cwd: PACKAGE_DIR,
        env: { ...stageEnv, ...extra },
        pinning: ctx.pinning,
        label,
        ipc: true,
      });
      ctx.teardown(() => child.stop());
      return child;
    };
    // Each stage's rate by repetition, for the slowest of each repetition.
    const stageRates = new Map<string, number[]>(STAGES.map((s) => [s, []]));
    const headers = new Map<string, string>();
    const sameEmails = (arm: string, messages: SmtpMessage[]) => {
      headers.set(arm, headerNames(messages[0]));
      const [a, b] = [headers.get(SERVICE), headers.get(SMTP_STAGE)];
      if (a !== undefined && b !== undefined && a !== b) {
        throw new Error(`the SMTP stage sent other emails than the service: [${b}] vs [${a}]`);
      }
    };
    const ledgerRows = { claim: [] as number[], mark_sent: [] as number[] };

    await ctx.alternate([
      {
        name: SERVICE,
        async run() {
          sink.clear();
          await publishSignups(env.nats.js, names.subjects.userSignedUp, count);
          const service = await startService(ctx, env, 'notification-service', serviceEnv);
          let rate: number;
          try {
            const messages = await service.child.guard(sink.waitFor(count, timeoutMs));
            rate = rateOf(messages, count);
            sameEmails(SERVICE, messages);
            const text = await (await fetch(`${service.url}/metrics`)).text();
            const statements = counterValue(text, 'notify_ledger_statements_total', 'ledger');
            for (const op of ['claim', 'mark_sent'] as const) {
              const rows = counterValue(text, 'notify_ledger_rows_total', `op="${op}"`);
              ledgerRows[op].push(rows / statements);
            }
          } finally {
            await service.stop();
          }
          return { [SERVICE]: rate, [VS_BULLMQ]: rate, [VS_RAW]: rate };
        },
      },
      {
        name: SMTP_STAGE,
        async run(rep) {
          sink.clear();
          const child = stage('src/children/smtp-stage.ts', 'SMTP stage');
          try {
            const messages = await child.guard(sink.waitFor(count, timeoutMs));
            sameEmails(SMTP_STAGE, messages);
            const rate = rateOf(messages, count);
            stageRates.get(SMTP_STAGE)![rep] = rate;
            return { [SMTP_STAGE]: rate };
          } finally {
            await child.stop();
          }
        },
      },
      {
        name: LEDGER_STAGE,
        async run(rep) {
          const child = stage('src/children/ledger-stage.ts', 'ledger stage');
          try {
            const done = await doneOf(child);
            if (done.count !== count) throw new Error(`ledger stage did ${done.count} of ${count}`);
            const rate = ((count - 1) / Math.max(0.001, done.elapsedMs)) * 1000;
            stageRates.get(LEDGER_STAGE)![rep] = rate;
            return { [LEDGER_STAGE]: rate };
          } finally {
            await child.stop();
          }
        },
      },
      {
        name: RENDER_STAGE,
        async run(rep) {
          const child = stage('src/children/render-stage.ts', 'render stage', {
            BENCH_MIN_MS: String(ctx.smoke ? 200 : 1000),
          });
          try {
            const done = await doneOf(child);
            const rate = (done.count / Math.max(0.001, done.elapsedMs)) * 1000;
            stageRates.get(RENDER_STAGE)![rep] = rate;
            return { [RENDER_STAGE]: rate };
          } finally {
            await child.stop();
          }
        },
      },
      {
        name: BULLMQ,
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
            return { [BULLMQ]: rateOf(messages, count) };
          } finally {
            await worker.stop();
          }
        },
      },
      {
        name: RAW,
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
              // The service's pull batch.
              BENCH_BATCH: String(MAX_ACK_PENDING),
            },
            pinning: ctx.pinning,
            label: 'raw consumer',
            ipc: true,
          });
          ctx.teardown(() => child.stop());
          try {
            const done = await doneOf(child);
            if (done.count !== count) throw new Error(`raw consumer saw ${done.count} of ${count}`);
            return { [RAW]: ((count - 1) / Math.max(0.001, done.elapsedMs)) * 1000 };
          } finally {
            await child.stop();
            await env.nats.jsm.consumers.delete(names.streams.users, durable);
          }
        },
      },
    ]);

    for (let rep = 0; rep < ctx.reps; rep++) {
      ctx.record(SLOWEST, Math.min(...STAGES.map((s) => stageRates.get(s)![rep] ?? NaN)));
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    ctx.note(
      `notify-throughput: ${count.toLocaleString('en-US')} events per arm and repetition; concurrency ${CONCURRENCY} (sends at once), max_ack_pending ${MAX_ACK_PENDING} (the service defaults) for every arm; pooled SMTP (10 connections) to a local smtp-server sink with no delay; timed first->last completion. The stages run notification-service's own modules (${serviceRoot.endsWith('dist') ? 'its build' : 'its sources'}) in a process of their own on the server core: the SMTP send through its mailer, the claim and mark-sent statements of its ledger (Prisma, its batching, every held message claiming at once and ${CONCURRENCY} marks at a time), validate + render in a loop; "slowest stage" is the lowest of the three in each repetition. The service's ledger statements (claims and sent marks together) carried ${mean(ledgerRows.claim).toFixed(1)} claims and ${mean(ledgerRows.mark_sent).toFixed(1)} marks each on average.`,
    );
  },
};
