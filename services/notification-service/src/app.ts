// notification-service's app factory: the platform base app (health, metrics, problem+json), the
// NATS and Postgres plugins, the notifier (consumer, dead-letter worker, redrive jobs), then the
// admin routes. Readiness: NATS, Postgres and the consumers being provisioned, what the service
// cannot work without (Redis only counts the admin routes' rate limits).
import {
  createServiceApp,
  natsPlugin,
  natsServers,
  prismaPlugin,
  rateLimiterPlugin,
  redisPlugin,
  redisTopology,
  type App,
  type ServiceDeps,
} from '@app/platform';
import type { Config } from './config.js';
import { notifierPlugin } from './plugins/notifier.js';
import { deadletterRoutes } from './routes/admin/deadletters.js';

export const SERVICE_NAME = 'notification-service';

export interface Deps extends ServiceDeps {
  /** Identifies this process in delivery claims (default host:pid:random). */
  workerId?: string;
}

export async function buildApp(config: Config, deps: Deps = {}): Promise<App> {
  const app = createServiceApp({
    name: SERVICE_NAME,
    config,
    deps,
    readiness: {
      nats: () => app.nats.ping(),
      postgres: () => app.prismaPing(),
    },
  });
  try {
    await app.register(natsPlugin, { servers: natsServers(config.NATS_URL), name: SERVICE_NAME });
    await app.register(prismaPlugin, {
      databaseUrl: config.DATABASE_URL,
      poolMax: Math.min(config.NOTIFY_CONCURRENCY + 4, 20),
    });
    await app.register(notifierPlugin, {
      config,
      ...(deps.workerId ? { workerId: deps.workerId } : {}),
    });
    // Not a readiness check: without Redis the admin routes only lose their rate limits.
    await app.register(redisPlugin, {
      topology: redisTopology(config),
      keyPrefix: config.NOTIFY_REDIS_PREFIX,
      required: false,
      connectionName: SERVICE_NAME,
    });
    await app.register(rateLimiterPlugin);
    await app.register(deadletterRoutes, {
      adminToken: config.ADMIN_TOKEN,
      defaultRate: config.NOTIFY_REDRIVE_RATE,
      limits: {
        perIp: {
          name: 'admin-ip',
          max: config.NOTIFY_RATE_ADMIN_MAX,
          windowMs: config.NOTIFY_RATE_WINDOW_MS,
        },
        failures: {
          name: 'admin-fail',
          max: config.NOTIFY_RATE_ADMIN_FAILURES_MAX,
          windowMs: config.NOTIFY_RATE_WINDOW_MS,
        },
      },
    });
  } catch (err) {
    // A dependency that fails start-up must not leave the others' connections open.
    await app.close().catch(() => undefined);
    throw err;
  }
  return app;
}
