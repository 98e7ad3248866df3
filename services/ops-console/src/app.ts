// ops-console's app factory: the platform base app (health, metrics, problem+json, security
// headers), NATS, a read-only Postgres session and Redis (sign-in limits and session revocations,
// neither worth an outage), sessions, the console's view of the system (app.ops), then its pages.
// Every answer carries a strict Content-Security-Policy: the pages load one script and one
// stylesheet of this origin and nothing inline. Readiness: NATS and Postgres, which nearly every
// page reads; a service the console watches being down is what the console is for, not a failure.
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
import { opsPlugin } from './plugins/ops.js';
import { sessionPlugin } from './plugins/session.js';
import { consoleRoutes } from './routes/console.js';

export const SERVICE_NAME = 'ops-console';

export type Deps = ServiceDeps;

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join('; ');

/**
 * DATABASE_URL with every transaction read-only (`default_transaction_read_only`): the console
 * reads the outbox and the audit tables, and a bug of its own must not be able to write them.
 */
export function readOnlyDatabaseUrl(url: string): string {
  const parsed = new URL(url);
  const options = parsed.searchParams.get('options');
  const readOnly = '-c default_transaction_read_only=on';
  parsed.searchParams.set('options', options ? `${options} ${readOnly}` : readOnly);
  return parsed.toString();
}

export async function buildApp(config: Config, deps: Deps = {}): Promise<App> {
  const app = createServiceApp({
    name: SERVICE_NAME,
    config,
    deps,
    trustProxy: config.OPS_TRUST_PROXY,
    readiness: {
      nats: () => app.nats.ping(),
      postgres: () => app.prismaPing(),
    },
  });
  app.addHook('onRequest', (request, reply, done) => {
    void reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
    // The platform's no-referrer makes a browser send `Origin: null` with a form post; same-origin
    // keeps the real Origin (and Referer) for this console's own forms, and tells nothing to others.
    void reply.header('referrer-policy', 'same-origin');
    // Pages and JSON show live state and a CSRF token: never stored by a browser or a proxy.
    if (!request.url.startsWith('/static/')) void reply.header('cache-control', 'no-store');
    done();
  });
  try {
    // Not required at start: the console shows NATS being down instead of refusing to start.
    await app.register(natsPlugin, {
      servers: natsServers(config.NATS_URL),
      name: SERVICE_NAME,
      required: false,
    });
    await app.register(prismaPlugin, {
      databaseUrl: readOnlyDatabaseUrl(config.DATABASE_URL),
      poolMax: 4,
    });
    await app.register(redisPlugin, {
      topology: redisTopology(config),
      keyPrefix: config.OPS_REDIS_PREFIX,
      required: false,
      connectionName: SERVICE_NAME,
    });
    await app.register(rateLimiterPlugin);
    await app.register(sessionPlugin, { config });
    await app.register(opsPlugin, { config });
    await app.register(consoleRoutes, { config });
  } catch (err) {
    // A dependency that fails start-up must not leave the others' connections open.
    await app.close().catch(() => undefined);
    throw err;
  }
  return app;
}
