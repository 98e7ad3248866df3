// Runs the outbox relay (@app/outbox) inside the service: it starts once NATS is connected (the
// service itself starts without NATS, the outbox absorbs the outage), exports the backlog metrics
// on the app's registry, and stops with the app after the batch in flight.
import { startRelay, type Relay, type RelayOptions } from '@app/outbox';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

export interface OutboxRelayPluginOptions {
  databaseUrl: string;
  batchSize: number;
  pollIntervalMs: number;
  retentionMs: number;
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
    const log = app.log.child({ component: 'outbox-relay' });
    const started = app.nats.whenConnected().then(async () => {
      if (closing) return;
      starting = true;
      relay = await startRelay({
        ...options.relay,
        databaseUrl: options.databaseUrl,
        nc: app.nats.nc,
        js: app.nats.js,
        log,
        metricsRegistry: app.metrics.registry,
        batchSize: options.batchSize,
        pollIntervalMs: options.pollIntervalMs,
        retentionMs: options.retentionMs,
        name: 'signup-service',
      });
    });
    started.catch((err: unknown) => log.error({ err }, 'outbox relay failed to start'));
    app.decorate('outboxRelay', {
      current: () => relay,
      started: () => started,
    } satisfies OutboxRelayHandle);
    // Before the NATS plugin drains (onClose runs in reverse registration order).
    app.addHook('onClose', async () => {
      closing = true;
      // Waiting for a first NATS connection that may never come would hang the close.
      if (starting) await started.catch(() => undefined);
      await relay?.stop();
    });
  },
  { name: 'outbox-relay', fastify: '5.x', dependencies: ['nats', 'metrics'] },
);
