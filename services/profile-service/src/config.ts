// profile-service configuration: the shared variables plus the PROFILE_* knobs of the cache. The
// only place that reads the environment (server.ts passes process.env; tests pass an object).
import {
  BoolEnv,
  CommonEnv,
  ConfigError,
  IntEnv,
  loadConfig as loadEnv,
  loadJwtKeys,
  PortEnv,
  withPemNewlines,
} from '@app/platform';
import { Type, type Static } from '@sinclair/typebox';
import { CACHE_SCHEMA_VERSION } from './lib/cache-keys.js';

export const ConfigSchema = Type.Object({
  ...CommonEnv,
  PORT: PortEnv(3002),
  JWT_PUBLIC_KEY: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'the PEM public key (Ed25519 for EdDSA, or P-256 for ES256) that verifies access tokens',
    }),
  ),
  JWT_PREVIOUS_PUBLIC_KEYS: Type.Optional(
    Type.String({
      description:
        'optional: PEM public keys (concatenated blocks) retired from signing, still accepted ' +
        'during a rotation',
    }),
  ),
  JWT_JWKS_URL: Type.Optional(
    Type.String({
      pattern: '^https?://[^\\s]+$',
      description:
        "an http(s) URL of signup-service's JWK Set (http://signup-service:3001/.well-known/jwks.json)",
    }),
  ),
  JWT_ISSUER: Type.String({ minLength: 1, default: 'signup-service' }),
  JWT_AUDIENCE: Type.String({ minLength: 1, default: 'app' }),
  PROFILE_REDIS_PREFIX: Type.String({ default: '' }),
  PROFILE_CACHE_SCHEMA_VERSION: IntEnv(CACHE_SCHEMA_VERSION, 1),
  PROFILE_CACHE_TTL_SECONDS: IntEnv(300, 1),
  PROFILE_CACHE_TTL_JITTER: Type.Number({ minimum: 0, maximum: 0.5, default: 0.1 }),
  PROFILE_CACHE_STALE_SECONDS: IntEnv(30, 0),
  PROFILE_NEGATIVE_TTL_SECONDS: IntEnv(30, 1),
  PROFILE_LEASE_MS: IntEnv(3000, 10),
  PROFILE_LEASE_WAIT_MS: IntEnv(2000, 0),
  PROFILE_LEASE_POLL_MS: IntEnv(20, 1),
  PROFILE_REDIS_TIMEOUT_MS: IntEnv(250, 1),
  PROFILE_REDIS_STARTUP_WAIT_MS: IntEnv(2000, 0),
  PROFILE_BREAKER_FAILURES: IntEnv(3, 1),
  PROFILE_BREAKER_OPEN_MS: IntEnv(2000, 1),
  PROFILE_DB_POOL_MAX: IntEnv(20, 1),
  PROFILE_DB_MAX_CONCURRENT: IntEnv(16, 1),
  PROFILE_DB_MAX_QUEUE: IntEnv(64, 0),
  PROFILE_DB_QUEUE_TIMEOUT_MS: IntEnv(1000, 1),
  PROFILE_LOCAL_CACHE: BoolEnv(false),
  PROFILE_LOCAL_TTL_MS: IntEnv(1000, 1),
  PROFILE_LOCAL_MAX_ENTRIES: IntEnv(10_000, 1),
  PROFILE_HTTP_MAX_AGE_SECONDS: IntEnv(0, 0),
  PROFILE_OUTBOX_RELAY: BoolEnv(true),
  PROFILE_OUTBOX_POLL_MS: IntEnv(5000, 10),
  PROFILE_SIGNUP_CONSUMER: BoolEnv(true),
  PROFILE_RATE_WINDOW_MS: IntEnv(60_000, 1000),
  /** Profile updates per user (token subject) per window. */
  PROFILE_RATE_PATCH_MAX: IntEnv(30, 1),
});

export type Config = Static<typeof ConfigSchema>;

/**
 * Validates the environment. Tokens are verified with JWT_PUBLIC_KEY (and JWT_PREVIOUS_PUBLIC_KEYS),
 * with the JWK Set at JWT_JWKS_URL, or both, so one of the two must be set; a key that is neither
 * Ed25519 nor P-256 fails here, at start-up, named with its block.
 */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const fixed = withPemNewlines(env, ['JWT_PUBLIC_KEY', 'JWT_PREVIOUS_PUBLIC_KEYS']);
  const config = loadEnv(ConfigSchema, fixed);
  const problems: Array<{ variable: string; problem: string }> = [];
  if (config.JWT_PUBLIC_KEY === undefined && config.JWT_JWKS_URL === undefined) {
    problems.push({
      variable: 'JWT_PUBLIC_KEY',
      problem: 'required, missing (or set JWT_JWKS_URL to verify with the JWK Set)',
    });
  }
  try {
    loadJwtKeys({
      JWT_PUBLIC_KEY: config.JWT_PUBLIC_KEY,
      JWT_PREVIOUS_PUBLIC_KEYS: config.JWT_PREVIOUS_PUBLIC_KEYS,
    });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
