// Runs the outbox relay of @app/outbox inside profile-service: it publishes the
// `user.profile_updated` events that updates write into `outbox_events`. Safe with several
// replicas (rows are claimed with FOR UPDATE SKIP LOCKED); while NATS is down the events wait.
import { startRelay, type Relay } from '@app/outbox';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

export interface OutboxRelayOptions {
  databaseUrl: string;
  pollIntervalMs: number;
}

export const outboxRelayPlugin = fp<OutboxRelayOptions>(
  async (app: FastifyInstance, options) => {
    let closing = false;
    const started: Promise<Relay | undefined> = app.nats.whenConnected().then(async () => {
      if (closing || !app.nats.connected) return undefined;
      return startRelay({
        databaseUrl: options.databaseUrl,
        nc: app.nats.nc,
        log: app.log.child({ plugin: 'outbox-relay' }),
        metricsRegistry: app.metrics.registry,
        pollIntervalMs: options.pollIntervalMs,
        name: 'profile-service',
      });
    });
    started.catch((err: unknown) => app.log.error({ err }, 'outbox relay did not start'));
    app.addHook('onClose', async () => {
      closing = true;
      const relay = await started.catch(() => undefined);
      await relay?.stop();
    });
  },
  { name: 'outbox-relay', fastify: '5.x', dependencies: ['nats', 'metrics'] },
);
