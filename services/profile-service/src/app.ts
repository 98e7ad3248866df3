// buildApp(config, deps): the profile-service Fastify app. Registers the platform base (errors,
// health, metrics, OpenAPI), one plugin per dependency, the cache, the background workers (the
// profile-cache consumer and the outbox relay), then the routes. Readiness depends on Postgres
// only: with Redis down the service answers from Postgres (x-cache: BYPASS).
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
import { outboxRelayPlugin } from '@app/outbox';
import type { Config } from './config.js';
import { authPlugin } from './plugins/auth.js';
import { profilesPlugin } from './plugins/profiles.js';
import { signupConsumerPlugin } from './plugins/signup-consumer.js';
import { profileRoutes } from './routes/profiles.js';

export const SERVICE_NAME = 'profile-service';

export interface Deps extends ServiceDeps {
  /** Test hook: runs after every database read of profiles, before the result is cached. */
  afterDbRead?: (ids: string[]) => Promise<void>;
}

export async function buildApp(config: Config, deps: Deps = {}): Promise<App> {
  const app = createServiceApp({
    name: SERVICE_NAME,
    version: '0.1.0',
    config,
    deps,
    readiness: { postgres: () => app.prismaPing() },
  });

  await app.register(prismaPlugin, {
    databaseUrl: config.DATABASE_URL,
    poolMax: config.PROFILE_DB_POOL_MAX,
  });
  await app.register(redisPlugin, {
    topology: redisTopology(config),
    required: false,
    commandTimeoutMs: config.PROFILE_REDIS_TIMEOUT_MS,
    connectionName: SERVICE_NAME,
  });
  await app.register(natsPlugin, {
    servers: natsServers(config.NATS_URL),
    name: SERVICE_NAME,
    required: false,
  });
  await app.register(rateLimiterPlugin, { prefix: config.PROFILE_REDIS_PREFIX });
  await app.register(authPlugin, {
    publicKey: config.JWT_PUBLIC_KEY,
    previousPublicKeys: config.JWT_PREVIOUS_PUBLIC_KEYS,
    jwksUrl: config.JWT_JWKS_URL,
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
  });
  await app.register(profilesPlugin, {
    config,
    producer: SERVICE_NAME,
    afterDbRead: deps.afterDbRead,
  });
  if (config.PROFILE_SIGNUP_CONSUMER) {
    await app.register(signupConsumerPlugin, { namespace: config.NATS_NAMESPACE });
  }
  if (config.PROFILE_OUTBOX_RELAY) {
    await app.register(outboxRelayPlugin, {
      databaseUrl: config.DATABASE_URL,
      producer: SERVICE_NAME,
      pollIntervalMs: config.PROFILE_OUTBOX_POLL_MS,
    });
  }
  await app.register(profileRoutes, {
    schemaVersion: config.PROFILE_CACHE_SCHEMA_VERSION,
    maxAgeSeconds: config.PROFILE_HTTP_MAX_AGE_SECONDS,
    patchLimit: {
      name: 'profile-patch',
      max: config.PROFILE_RATE_PATCH_MAX,
      windowMs: config.PROFILE_RATE_WINDOW_MS,
    },
  });
  return app;
}
