// Configuration of ops-console: the shared variables, where the three services answer (readiness,
// /metrics, notification-service's admin API with ADMIN_TOKEN), the two sign-in tokens and the
// session secret, and the OPS_* knobs of sessions, sign-in limits, refresh and history. Reads only
// the env it is given.
import { Type, type Static } from '@sinclair/typebox';
import {
  BoolEnv,
  CommonEnv,
  ConfigError,
  IntEnv,
  PortEnv,
  loadConfig as load,
} from '@app/platform';

const Url = (what: string, defaultValue: string) =>
  Type.String({
    pattern: '^https?://[^\\s/?#]+(/[^\\s?#]*)?$',
    default: defaultValue,
    description: `an http(s) URL of ${what} (no query)`,
  });

const Token = (what: string) =>
  Type.String({ minLength: 16, description: `${what}: at least 16 characters` });

export const ConfigSchema = Type.Object({
  ...CommonEnv,
  PORT: PortEnv(3004),
  OPS_SIGNUP_URL: Url('signup-service', 'http://127.0.0.1:3001'),
  OPS_PROFILE_URL: Url('profile-service', 'http://127.0.0.1:3002'),
  OPS_NOTIFICATION_URL: Url('notification-service (its admin API too)', 'http://127.0.0.1:3003'),
  /** notification-service's admin token: every change the console makes goes through that API. */
  ADMIN_TOKEN: Type.Optional(Token("notification-service's ADMIN_TOKEN")),
  OPS_OPERATOR_TOKEN: Token('the sign-in token of operators (may redrive)'),
  OPS_VIEWER_TOKEN: Type.Optional(Token('the sign-in token of read-only viewers')),
  OPS_SESSION_SECRET: Type.String({
    minLength: 32,
    description: 'the key sessions and CSRF tokens are signed with: at least 32 characters',
  }),
  OPS_SESSION_TTL_SECONDS: IntEnv(8 * 3600, 60, 7 * 86_400),
  /** Secure cookies even on plain HTTP (TLS ends at a proxy in front); on TLS they always are. */
  OPS_COOKIE_SECURE: BoolEnv(false),
  /** The console's public URL (behind a proxy): the origin every form must come from. */
  OPS_PUBLIC_URL: Type.Optional(
    Type.String({
      pattern: '^https?://[^\\s/?#]+/?$',
      description: 'an origin like https://ops.example',
    }),
  ),
  OPS_TRUST_PROXY: BoolEnv(false),
  OPS_REDIS_PREFIX: Type.String({ default: 'ops:' }),
  OPS_RATE_WINDOW_MS: IntEnv(60_000, 1000),
  /** Failed sign-ins per client IP per window; past it, that IP is refused (429) until it ends. */
  OPS_SIGNIN_FAILURES_MAX: IntEnv(5, 1),
  /** Bound on each call to a service (readiness, /metrics, the admin API). */
  OPS_HTTP_TIMEOUT_MS: IntEnv(3000, 100, 60_000),
  /** How often an open page refreshes its numbers. */
  OPS_REFRESH_MS: IntEnv(5000, 250, 600_000),
  /** How often the numbers are sampled for the last hour's counts and the trends (0: only on view). */
  OPS_SAMPLE_INTERVAL_MS: IntEnv(15_000, 0, 600_000),
  /** At most this many of the newest dead letters are read for the groups and the list. */
  OPS_DEADLETTER_SCAN_MAX: IntEnv(10_000, 1, 100_000),
  /** The outbox producers shown even with nothing pending (comma-separated service names). */
  OPS_OUTBOX_PRODUCERS: Type.String({
    pattern: '^([a-z0-9-]+(\\s*,\\s*[a-z0-9-]+)*)?$',
    default: 'signup-service,profile-service',
    description: 'comma-separated producer names',
  }),
  /** The rate the redrive form offers (messages per second). */
  OPS_REDRIVE_RATE: IntEnv(10, 1, 10_000),
  OPS_GRACE_MS: IntEnv(10_000, 100, 600_000),
});

export type Config = Static<typeof ConfigSchema>;

export function loadConfig(env: Record<string, string | undefined>): Config {
  const config = load(ConfigSchema, env);
  if (
    config.OPS_VIEWER_TOKEN !== undefined &&
    config.OPS_VIEWER_TOKEN === config.OPS_OPERATOR_TOKEN
  ) {
    throw new ConfigError([
      {
        variable: 'OPS_VIEWER_TOKEN',
        problem: 'must differ from OPS_OPERATOR_TOKEN (a viewer would sign in as an operator)',
      },
    ]);
  }
  return config;
}

/** OPS_OUTBOX_PRODUCERS as a list. */
export function outboxProducers(config: Pick<Config, 'OPS_OUTBOX_PRODUCERS'>): string[] {
  return config.OPS_OUTBOX_PRODUCERS.split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}
