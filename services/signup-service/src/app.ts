// buildApp(config, deps?): the signup-service Fastify app on the platform base (problem+json,
// health, metrics, OpenAPI): plugins first (Postgres, Redis, NATS, tokens, limits, outbox relay),
// then routes. Tests call it with their own config; server.ts with the environment's.
import { createHash } from 'node:crypto';
import {
  corsOrigins,
  createApp,
  natsPlugin,
  natsServers,
  redisPlugin,
  type App,
} from '@app/platform';
import type { RelayOptions } from '@app/outbox';
import type { SignupConfig } from './config.js';
import { outboxRelayPlugin } from './plugins/outbox-relay.js';
import { pgPlugin } from './plugins/pg.js';
import { rateLimitsPlugin } from './plugins/rate-limits.js';
import { tokensPlugin } from './plugins/tokens.js';
import { sessionRoutes } from './routes/sessions.js';
import { signupRoutes } from './routes/signup.js';

export interface BuildDeps {
  /** Where logs go (tests capture them); default stdout. */
  logStream?: NodeJS.WritableStream;
  /** Relay overrides for tests (e.g. `afterPublish` to simulate a crash). */
  relay?: Partial<
    Pick<RelayOptions, 'afterPublish' | 'publishTimeoutMs' | 'backoff' | 'backlogCheckIntervalMs'>
  >;
}

export async function buildApp(config: SignupConfig, deps: BuildDeps = {}): Promise<App> {
  const app = createApp({
    name: 'signup-service',
    version: '0.1.0',
    logger: { level: config.LOG_LEVEL },
    ...(deps.logStream ? { logStream: deps.logStream } : {}),
    trustProxy: config.SIGNUP_TRUST_PROXY,
    cors: { origins: corsOrigins(config.CORS_ORIGINS) },
    // NATS is deliberately not a readiness check: while it is down the outbox keeps the events.
    readiness: { postgres: async () => app.pg.query('SELECT 1') },
  });

  await app.register(pgPlugin, {
    databaseUrl: config.DATABASE_URL,
    max: config.SIGNUP_DB_POOL_MAX,
  });
  await app.register(redisPlugin, {
    url: config.REDIS_URL,
    keyPrefix: config.SIGNUP_REDIS_PREFIX,
    required: false,
    connectionName: 'signup-service',
  });
  await app.register(natsPlugin, {
    servers: natsServers(config.NATS_URL),
    name: 'signup-service',
    required: false,
  });
  await app.register(tokensPlugin, {
    privateKey: config.JWT_PRIVATE_KEY,
    publicKey: config.JWT_PUBLIC_KEY,
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
      batchSize: config.SIGNUP_RELAY_BATCH_SIZE,
      pollIntervalMs: config.SIGNUP_RELAY_POLL_MS,
      retentionMs: config.SIGNUP_OUTBOX_RETENTION_HOURS * 3_600_000,
      ...(deps.relay ? { relay: deps.relay } : {}),
    });
  }

  await app.register(signupRoutes, {
    namespace: config.NATS_NAMESPACE,
    scryptLogN: config.SIGNUP_SCRYPT_LOG_N,
    idempotencyTtlHours: config.SIGNUP_IDEMPOTENCY_TTL_HOURS,
    fingerprintSecret: createHash('sha256')
      .update('idempotency-fingerprint\n')
      .update(config.JWT_PRIVATE_KEY)
      .digest(),
  });
  await app.register(sessionRoutes, { scryptLogN: config.SIGNUP_SCRYPT_LOG_N });
  return app;
}
