// The outbox relay as a Fastify plugin, the one every producing service registers: it starts the
// relay once NATS first connects (the service itself starts without NATS; the outbox absorbs the
// outage), exports the backlog metrics on the app's registry, publishes only the rows of its own
// `producer`, and stops in onClose after the batch in flight, before the NATS connection drains.
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { startRelay, type Relay, type RelayOptions } from './relay.js';

export interface OutboxRelayPluginOptions {
  databaseUrl: string;
  /** The service's SERVICE_NAME: the relay publishes the rows this service enqueued, no others. */
  producer: string;
  batchSize?: number;
  pollIntervalMs?: number;
  retentionMs?: number;
  /** Passed through to the relay (tests use afterPublish to simulate a crash). */
  relay?: Partial<
    Pick<RelayOptions, 'afterPublish' | 'publishTimeoutMs' | 'backoff' | 'backlogCheckIntervalMs'>
  >;
}

export interface OutboxRelayHandle {
  /** Undefined until NATS first connects. */
  current(): Relay | undefined;
  /** Resolves once the relay runs (after the first NATS connection). */
  started(): Promise<void>;
}

declare module 'fastify' {
  interface FastifyInstance {
    outboxRelay: OutboxRelayHandle;
  }
}

export const outboxRelayPlugin = fp<OutboxRelayPluginOptions>(
  async (app: FastifyInstance, options) => {
    let relay: Relay | undefined;
    let closing = false;
    let starting = false;
    const log = app.log.child({ component: 'outbox-relay', producer: options.producer });
    const started = app.nats.whenConnected().then(async () => {
      if (closing) return;
      starting = true;
      relay = await startRelay({
        ...options.relay,
        databaseUrl: options.databaseUrl,
        producer: options.producer,
        nc: app.nats.nc,
        js: app.nats.js,
        log,
        metricsRegistry: app.metrics.registry,
        batchSize: options.batchSize,
        pollIntervalMs: options.pollIntervalMs,
        retentionMs: options.retentionMs,
      });
    });
    started.catch((err: unknown) => log.error({ err }, 'outbox relay failed to start'));
    app.decorate('outboxRelay', {
      current: () => relay,
      started: () => started,
    } satisfies OutboxRelayHandle);
    // Registered after the NATS plugin, so this runs before it drains (onClose runs in reverse).
    app.addHook('onClose', async () => {
      closing = true;
      // Waiting for a first NATS connection that may never come would hang the close.
      if (starting) await started.catch(() => undefined);
      await relay?.stop();
    });
  },
  { name: 'outbox-relay', fastify: '5.x', dependencies: ['nats', 'metrics'] },
);
