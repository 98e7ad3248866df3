// The notification subsystem as `app.notifier`: the welcome-email consumer and the dead-letter
// worker (both on platform's consumer loop), redrive jobs, and the consumer's server-side counters
// for /metrics. It provisions nothing: streams and consumers are the provision Job's (and `pnpm
// start`'s) to create, so the service needs no stream-admin rights. Until its consumers exist it
// keeps asking, logs that it is waiting, and readiness says `consumers: waiting`. On shutdown it
// stops pulling and finishes (or naks) what is in flight before the NATS connection drains.
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { consumerMetrics, startConsumerLoop, type ConsumerLoop } from '@app/platform';
import { names as topologyNames, type Names } from '@app/contracts';
import type { Config } from '../config.js';
import { WelcomeHandler } from '../lib/consumer.js';
import { DeadLetterWorker } from '../lib/deadletter.js';
import { Deliveries } from '../lib/deliveries.js';
import { createMailer, mailerOptions, type Mailer } from '../lib/mailer.js';
import { createMetrics, type NotifyMetrics } from '../lib/metrics.js';
import type { RedriveDeps } from '../lib/redrive.js';
import { RedriveJobs } from '../lib/redrive-jobs.js';

export interface Notifier {
  names: Names;
  workerId: string;
  mailer: Mailer;
  metrics: NotifyMetrics;
  deliveries: Deliveries;
  /** Absent when NOTIFY_DEADLETTER_WORKER=0. */
  deadLetterWorker: DeadLetterWorker | undefined;
  redrives: RedriveJobs;
  redriveDeps(): RedriveDeps;
  /** Resolves once every consumer of this process is pulling (they wait to be provisioned). */
  consuming(): Promise<void>;
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
    const names = topologyNames(config.NATS_NAMESPACE);
    const workerId = givenId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    const metrics = createMetrics(app.metrics.registry);
    const deliveries = new Deliveries(app.prisma, {
      workerId,
      claimTimeoutMs: config.NOTIFY_CLAIM_TIMEOUT_MS,
      onBatch: (batch) => {
        if ('releases' in batch) {
          metrics.ledgerStatements.inc({ statement: 'release' });
          metrics.ledgerRows.inc({ op: 'release' }, batch.releases);
        } else {
          metrics.ledgerStatements.inc({ statement: 'ledger' });
          metrics.ledgerRows.inc({ op: 'claim' }, batch.claims);
          metrics.ledgerRows.inc({ op: 'mark_sent' }, batch.marks);
        }
      },
    });
    const mailer = createMailer(mailerOptions(config));
    const log = app.log.child({ component: 'welcome-email' });
    const handler = new WelcomeHandler({
      deliveries,
      mailer,
      metrics,
      log,
      mailFrom: config.MAIL_FROM,
      sendSlots: config.NOTIFY_CONCURRENCY,
      backoff: { baseMs: config.NOTIFY_BACKOFF_BASE_MS, maxMs: config.NOTIFY_BACKOFF_MAX_MS },
    });
    const deadLetterWorker = config.NOTIFY_DEADLETTER_WORKER
      ? new DeadLetterWorker({
          nc,
          js,
          jsm,
          names,
          deliveries,
          metrics,
          log: app.log.child({ component: 'deadletter-worker' }),
          retryMs: config.NOTIFY_CONSUMER_RETRY_MS,
        })
      : undefined;
    const redriveDeps = (): RedriveDeps => ({ js, jsm, names, db: app.prisma });
    const redrives = new RedriveJobs({
      deps: redriveDeps(),
      owner: workerId,
      log: app.log.child({ component: 'redrive' }),
      staleMs: config.NOTIFY_REDRIVE_STALE_MS,
    });

    const consumerLabel = { consumer: names.consumers.welcomeEmail };
    const pollConsumerInfo = async () => {
      const info = await jsm.consumers.info(names.streams.users, names.consumers.welcomeEmail);
      metrics.pending.set(consumerLabel, info.num_pending);
      metrics.ackPending.set(consumerLabel, info.num_ack_pending);
      metrics.maxAckPending.set(consumerLabel, info.config.max_ack_pending ?? -1);
      metrics.redeliveredNow.set(consumerLabel, info.num_redelivered);
    };

    let loop: ConsumerLoop | undefined;
    let started: (() => void) | undefined;
    const allConsuming = new Promise<void>((resolve) => (started = resolve));
    let pulling = false;
    let poller: NodeJS.Timeout | undefined;
    let sweeper: NodeJS.Timeout | undefined;

    app.decorate('notifier', {
      names,
      workerId,
      mailer,
      metrics,
      deliveries,
      deadLetterWorker,
      redrives,
      redriveDeps,
      consuming: () => allConsuming,
      pollConsumerInfo,
    } satisfies Notifier);

    consumerMetrics(app, [
      { stream: names.streams.users, consumer: names.consumers.welcomeEmail },
      ...(deadLetterWorker
        ? [{ stream: names.streams.advisories, consumer: names.consumers.deadletterWorker }]
        : []),
    ]);
    app.readiness.add('consumers', async () => {
      if (!pulling) {
        throw new Error(
          `waiting for ${names.streams.users}/${names.consumers.welcomeEmail}` +
            (deadLetterWorker
              ? ` and ${names.streams.advisories}/${names.consumers.deadletterWorker}`
              : '') +
            ' to be provisioned',
        );
      }
    });

    app.addHook('onReady', async () => {
      // Not awaited: the service listens (and reports not ready) while it waits to be provisioned.
      loop = startConsumerLoop({
        nc,
        js,
        stream: names.streams.users,
        consumer: names.consumers.welcomeEmail,
        log,
        handle: handler.handle,
        // Every message the server lets us hold is handled at once (its claim joins those of the
        // messages that came with it); the handler bounds the sends by NOTIFY_CONCURRENCY. The
        // pull asks for as many, so the next messages are on their way while these are sent.
        concurrency: config.NOTIFY_MAX_ACK_PENDING,
        batch: config.NOTIFY_MAX_ACK_PENDING,
        // A slow send must not be redelivered to another worker while it is still running.
        heartbeatMs: Math.max(500, config.NOTIFY_ACK_WAIT_MS / 3),
        backoff: { baseMs: config.NOTIFY_BACKOFF_BASE_MS, maxMs: config.NOTIFY_BACKOFF_MAX_MS },
        retryMs: config.NOTIFY_CONSUMER_RETRY_MS,
        onInFlight: (n) => metrics.inFlight.set(n),
        // Messages not being sent yet go back to the server once it stopped sending here; the
        // sends under way finish.
        onPullStopped: () => handler.stopSending(),
      });
      deadLetterWorker?.start();
      app.log.info(
        { stream: names.streams.users, consumer: names.consumers.welcomeEmail },
        'waiting for the JetStream consumers (created by the provision Job or pnpm start, not by this service)',
      );
      void Promise.all([loop.consuming(), deadLetterWorker?.consuming()]).then(
        () => {
          pulling = true;
          started?.();
          app.log.info(
            { mailer: mailer.kind, concurrency: config.NOTIFY_CONCURRENCY, workerId },
            'welcome-email consumer started',
          );
        },
        () => undefined, // stopped before it was provisioned: nothing to report
      );
      await redrives.failStale();
      sweeper = setInterval(() => {
        redrives.failStale().catch((err: unknown) => app.log.warn({ err }, 'redrive sweep failed'));
      }, config.NOTIFY_REDRIVE_STALE_MS);
      sweeper.unref();
      poller = setInterval(() => {
        if (!pulling) return;
        pollConsumerInfo().catch((err: unknown) =>
          app.log.warn({ err }, 'could not read consumer info'),
        );
      }, config.NOTIFY_METRICS_POLL_MS);
      poller.unref();
    });

    // preClose runs before any plugin's onClose: stop pulling and settle in-flight work while the
    // NATS connection and Postgres pool are still open.
    app.addHook('preClose', async () => {
      clearInterval(poller);
      clearInterval(sweeper);
      const graceMs = Math.max(100, config.NOTIFY_GRACE_MS - 2000);
      await Promise.all([
        loop?.stop(graceMs),
        deadLetterWorker?.stop(graceMs),
        redrives.stop(graceMs),
      ]);
      handler.close();
      mailer.close();
    });
  },
  { name: 'notifier', fastify: '5.x', dependencies: ['nats', 'prisma', 'metrics', 'health'] },
);
