// The notification subsystem as `app.notifier`: provisions the JetStream topology (idempotent, so
// every start converges), then runs the welcome-email consumer and the dead-letter worker from
// onReady, polls the consumer's server-side counters for /metrics, and on shutdown stops pulling and
// finishes (or naks) what is in flight before the NATS connection drains.
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { provision } from '@app/platform';
import { topology, type Names } from '@app/contracts';
import type { Config } from '../config.js';
import { WelcomeConsumer } from '../lib/consumer.js';
import { DeadLetterWorker } from '../lib/deadletter.js';
import { Deliveries } from '../lib/deliveries.js';
import { createMailer, type Mailer } from '../lib/mailer.js';
import { createMetrics, type NotifyMetrics } from '../lib/metrics.js';
import type { RedriveDeps } from '../lib/redrive.js';

export interface Notifier {
  names: Names;
  workerId: string;
  mailer: Mailer;
  metrics: NotifyMetrics;
  deliveries: Deliveries;
  consumer: WelcomeConsumer;
  /** Absent when NOTIFY_DEADLETTER_WORKER=0. */
  deadLetterWorker: DeadLetterWorker | undefined;
  redriveDeps(): RedriveDeps;
  /** Reads pending / ack-pending from the server into the gauges now. */
  pollConsumerInfo(): Promise<void>;
}

declare module 'fastify' {
  interface FastifyInstance {
    notifier: Notifier;
  }
}

export interface NotifierPluginOptions {
  config: Config;
  workerId?: string;
}

export const notifierPlugin = fp<NotifierPluginOptions>(
  async (app: FastifyInstance, { config, workerId: givenId }) => {
    const { js, jsm, nc } = app.nats;
    const topo = topology({
      namespace: config.NATS_NAMESPACE,
      replicas: config.NATS_STREAM_REPLICAS,
      welcomeEmail: {
        maxAckPending: config.NOTIFY_MAX_ACK_PENDING,
        maxDeliver: config.NOTIFY_MAX_DELIVER,
        ackWaitMs: config.NOTIFY_ACK_WAIT_MS,
      },
    });
    const names = topo.names;
    const provisioned = await provision(jsm, topo, { check: false });
    if (provisioned.failed.length) {
      throw new Error(
        `JetStream provisioning failed: ${provisioned.failed.map((f) => `${f.kind} ${f.name}: ${f.error}`).join('; ')}`,
      );
    }
    app.log.info(
      { created: provisioned.created, updated: provisioned.updated },
      'jetstream topology provisioned',
    );

    const workerId = givenId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    const metrics = createMetrics(app.metrics.registry);
    const deliveries = new Deliveries(app.prisma, {
      workerId,
      claimTimeoutMs: config.NOTIFY_CLAIM_TIMEOUT_MS,
    });
    const mailer = createMailer({
      smtpUrl: config.SMTP_URL,
      mailDir: config.NOTIFY_MAIL_DIR,
      timeoutMs: config.NOTIFY_SMTP_TIMEOUT_MS,
      poolSize: Math.min(config.NOTIFY_CONCURRENCY, 10),
    });
    const log = app.log.child({ component: 'welcome-email' });
    const consumer = new WelcomeConsumer({
      nc,
      js,
      names,
      deliveries,
      mailer,
      metrics,
      log,
      mailFrom: config.MAIL_FROM,
      concurrency: config.NOTIFY_CONCURRENCY,
      maxAckPending: config.NOTIFY_MAX_ACK_PENDING,
      ackWaitMs: config.NOTIFY_ACK_WAIT_MS,
      backoffBaseMs: config.NOTIFY_BACKOFF_BASE_MS,
      backoffMaxMs: config.NOTIFY_BACKOFF_MAX_MS,
    });
    const deadLetterWorker = config.NOTIFY_DEADLETTER_WORKER
      ? new DeadLetterWorker({
          js,
          jsm,
          names,
          deliveries,
          metrics,
          log: app.log.child({ component: 'deadletter-worker' }),
        })
      : undefined;

    const consumerLabel = { consumer: names.consumers.welcomeEmail };
    const pollConsumerInfo = async () => {
      const info = await jsm.consumers.info(names.streams.users, names.consumers.welcomeEmail);
      metrics.pending.set(consumerLabel, info.num_pending);
      metrics.ackPending.set(consumerLabel, info.num_ack_pending);
      metrics.maxAckPending.set(consumerLabel, info.config.max_ack_pending ?? -1);
      metrics.redeliveredNow.set(consumerLabel, info.num_redelivered);
    };
    let poller: NodeJS.Timeout | undefined;

    app.decorate('notifier', {
      names,
      workerId,
      mailer,
      metrics,
      deliveries,
      consumer,
      deadLetterWorker,
      redriveDeps: () => ({ js, jsm, names, db: app.prisma }),
      pollConsumerInfo,
    } satisfies Notifier);

    app.addHook('onReady', async () => {
      await consumer.start();
      await deadLetterWorker?.start();
      poller = setInterval(() => {
        pollConsumerInfo().catch((err: unknown) =>
          app.log.warn({ err }, 'could not read consumer info'),
        );
      }, config.NOTIFY_METRICS_POLL_MS);
      poller.unref();
      app.log.info(
        { mailer: mailer.kind, concurrency: config.NOTIFY_CONCURRENCY, workerId },
        'welcome-email consumer started',
      );
    });

    // preClose runs before any plugin's onClose: stop pulling and settle in-flight work while the
    // NATS connection and Postgres pool are still open.
    app.addHook('preClose', async () => {
      clearInterval(poller);
      await consumer.stop(Math.max(100, config.NOTIFY_GRACE_MS - 2000));
      await deadLetterWorker?.stop();
      mailer.close();
    });
  },
  { name: 'notifier', fastify: '5.x', dependencies: ['nats', 'prisma', 'metrics'] },
);
