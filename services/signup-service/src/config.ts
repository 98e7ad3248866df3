// signup-service configuration: the shared variables of DESIGN.md plus SIGNUP_* ones, validated by
// platform's loadConfig, so a bad variable stops start-up with a message naming it.
import {
  BoolEnv,
  CommonEnv,
  IntEnv,
  PortEnv,
  loadConfig as load,
  loadJwtKeys,
  withPemNewlines,
} from '@app/platform';
import { Type, type Static } from '@sinclair/typebox';

const Pem = (what: string) =>
  Type.String({
    pattern: '-----BEGIN [A-Z ]+-----',
    description: `a PEM ${what} (Ed25519 for EdDSA, or P-256 for ES256)`,
  });

export const ConfigSchema = Type.Object({
  ...CommonEnv,
  PORT: PortEnv(3001),
  JWT_PRIVATE_KEY: Pem('private key that signs access tokens'),
  JWT_PUBLIC_KEY: Type.Optional(
    Type.String({
      pattern: '-----BEGIN [A-Z ]+-----',
      description: 'optional: the PEM public key of JWT_PRIVATE_KEY (derived from it when unset)',
    }),
  ),
  JWT_PREVIOUS_PUBLIC_KEYS: Type.Optional(
    Type.String({
      description:
        'optional: PEM public keys (concatenated blocks) retired from signing, still published ' +
        'in the JWK Set during a rotation',
    }),
  ),
  JWT_ISSUER: Type.String({ minLength: 1, default: 'signup-service' }),
  JWT_AUDIENCE: Type.String({ minLength: 1, default: 'app' }),
  SIGNUP_TOKEN_TTL_SECONDS: IntEnv(900, 60, 86_400),
  /** scrypt cost N = 2^SIGNUP_SCRYPT_LOG_N (memory = 128 * N * r bytes; 15 -> 32 MiB). */
  SIGNUP_SCRYPT_LOG_N: IntEnv(15, 10, 20),
  SIGNUP_IDEMPOTENCY_TTL_HOURS: IntEnv(24, 24, 24 * 30),
  SIGNUP_RATE_WINDOW_MS: IntEnv(60_000, 1000),
  SIGNUP_RATE_SIGNUP_MAX: IntEnv(20, 1),
  SIGNUP_RATE_LOGIN_IP_MAX: IntEnv(60, 1),
  SIGNUP_RATE_LOGIN_EMAIL_MAX: IntEnv(10, 1),
  SIGNUP_REDIS_PREFIX: Type.String({ default: 'signup:' }),
  SIGNUP_DB_POOL_MAX: IntEnv(10, 1, 200),
  SIGNUP_RELAY_ENABLED: BoolEnv(true),
  SIGNUP_RELAY_BATCH_SIZE: IntEnv(100, 1, 10_000),
  SIGNUP_RELAY_POLL_MS: IntEnv(5000, 100),
  SIGNUP_OUTBOX_RETENTION_HOURS: IntEnv(72, 1),
});
export type Config = Static<typeof ConfigSchema>;

/**
 * Reads the config; PEM keys given on one line with literal `\n` (as in many secret stores) are
 * accepted. Every key is read here, so a bad one (or a JWT_PUBLIC_KEY that is not the private
 * key's) stops start-up with one message naming each variable and block.
 */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const fixed = withPemNewlines(env, [
    'JWT_PRIVATE_KEY',
    'JWT_PUBLIC_KEY',
    'JWT_PREVIOUS_PUBLIC_KEYS',
  ]);
  const config = load(ConfigSchema, fixed);
  loadJwtKeys(config);
  return config;
}
