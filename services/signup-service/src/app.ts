// buildApp(config, deps): the signup-service Fastify app on the platform base (problem+json,
// health, metrics, OpenAPI): plugins first (Postgres, Redis, NATS, tokens, limits, outbox relay),
// then routes. Tests call it with their own config; server.ts with the environment's.
import {
  createServiceApp,
  natsPlugin,
  natsServers,
  prismaPlugin,
  redisPlugin,
  redisTopology,
  type App,
  type ServiceDeps,
} from '@app/platform';
import { outboxRelayPlugin, type OutboxRelayPluginOptions } from '@app/outbox';
import type { Config } from './config.js';
import { fingerprintSecret } from './lib/idempotency.js';
import { pgPlugin } from './plugins/pg.js';
import { rateLimitsPlugin } from './plugins/rate-limits.js';
import { tokensPlugin } from './plugins/tokens.js';
import { jwksRoutes } from './routes/jwks.js';
import { sessionRoutes } from './routes/sessions.js';
import { signupRoutes } from './routes/signup.js';

export const SERVICE_NAME = 'signup-service';

export interface Deps extends ServiceDeps {
  /** Relay overrides for tests (e.g. `afterPublish` to simulate a crash). */
  relay?: OutboxRelayPluginOptions['relay'];
}

export async function buildApp(config: Config, deps: Deps = {}): Promise<App> {
  const app = createServiceApp({
    name: SERVICE_NAME,
    version: '0.1.0',
    config,
    deps,
    // NATS is deliberately not a readiness check: while it is down the outbox keeps the events.
    readiness: { postgres: () => app.prismaPing() },
  });

  await app.register(prismaPlugin, {
    databaseUrl: config.DATABASE_URL,
    poolMax: config.SIGNUP_DB_POOL_MAX,
  });
  await app.register(pgPlugin, {
    databaseUrl: config.DATABASE_URL,
    max: config.SIGNUP_DB_POOL_MAX,
  });
  await app.register(redisPlugin, {
    topology: redisTopology(config),
    keyPrefix: config.SIGNUP_REDIS_PREFIX,
    required: false,
    connectionName: SERVICE_NAME,
  });
  await app.register(natsPlugin, {
    servers: natsServers(config.NATS_URL),
    name: SERVICE_NAME,
    required: false,
  });
  await app.register(tokensPlugin, {
    privateKey: config.JWT_PRIVATE_KEY,
    publicKey: config.JWT_PUBLIC_KEY,
    previousPublicKeys: config.JWT_PREVIOUS_PUBLIC_KEYS,
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
    ttlSeconds: config.SIGNUP_TOKEN_TTL_SECONDS,
  });
  await app.register(rateLimitsPlugin, {
    windowMs: config.SIGNUP_RATE_WINDOW_MS,
    signupMax: config.SIGNUP_RATE_SIGNUP_MAX,
    loginIpMax: config.SIGNUP_RATE_LOGIN_IP_MAX,
    loginEmailMax: config.SIGNUP_RATE_LOGIN_EMAIL_MAX,
  });
  if (config.SIGNUP_RELAY_ENABLED) {
    await app.register(outboxRelayPlugin, {
      databaseUrl: config.DATABASE_URL,
      producer: SERVICE_NAME,
      batchSize: config.SIGNUP_RELAY_BATCH_SIZE,
      pollIntervalMs: config.SIGNUP_RELAY_POLL_MS,
      retentionMs: config.SIGNUP_OUTBOX_RETENTION_HOURS * 3_600_000,
      ...(deps.relay ? { relay: deps.relay } : {}),
    });
  }

  await app.register(signupRoutes, {
    serviceName: SERVICE_NAME,
    namespace: config.NATS_NAMESPACE,
    scryptLogN: config.SIGNUP_SCRYPT_LOG_N,
    idempotencyTtlHours: config.SIGNUP_IDEMPOTENCY_TTL_HOURS,
    fingerprintSecret: fingerprintSecret(config.JWT_PRIVATE_KEY),
  });
  await app.register(sessionRoutes, { scryptLogN: config.SIGNUP_SCRYPT_LOG_N });
  await app.register(jwksRoutes);
  return app;
}
