// Configuration of notification-service: the shared variables plus the NOTIFY_* knobs of the
// welcome-email consumer, the mail transport and redrive. Reads only the env it is given.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Type, type Static } from '@sinclair/typebox';
import { CommonEnv, IntEnv, PortEnv, loadConfig as load } from '@app/platform';
import { TopologyEnv, WELCOME_EMAIL_DEFAULTS } from '@app/contracts';

const REPO_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');

export const ConfigSchema = Type.Object({
  ...CommonEnv,
  PORT: PortEnv(3003),
  // The welcome-email consumer's knobs, declared with the topology: the provision Job creates the
  // consumer from them, and this service bounds its pulls and heartbeats by the same values.
  ...TopologyEnv,
  NOTIFY_CONCURRENCY: IntEnv(16, 1, 10_000),
  NOTIFY_BACKOFF_BASE_MS: IntEnv(1000, 1, 3_600_000),
  NOTIFY_BACKOFF_MAX_MS: IntEnv(60_000, 1, 86_400_000),
  /** A claim older than this, left by a worker that died mid-send, may be taken over. */
  NOTIFY_CLAIM_TIMEOUT_MS: IntEnv(WELCOME_EMAIL_DEFAULTS.ackWaitMs, 100, 86_400_000),
  NOTIFY_SMTP_TIMEOUT_MS: IntEnv(15_000, 100, 600_000),
  /** 0 disables the dead-letter worker in this process (e.g. a dedicated worker deployment). */
  NOTIFY_DEADLETTER_WORKER: IntEnv(1, 0, 1),
  NOTIFY_MAIL_DIR: Type.String({ minLength: 1, default: resolve(REPO_ROOT, '.local/mail') }),
  NOTIFY_REDRIVE_RATE: IntEnv(50, 1, 100_000),
  /** A running redrive job whose process sent no heartbeat for this long is marked failed. */
  NOTIFY_REDRIVE_STALE_MS: IntEnv(30_000, 1000, 86_400_000),
  /** How long to wait before asking again for a consumer that is not provisioned yet. */
  NOTIFY_CONSUMER_RETRY_MS: IntEnv(2000, 50, 600_000),
  SMTP_URL: Type.Optional(
    Type.String({ pattern: '^smtps?://', description: 'an smtp:// or smtps:// URL' }),
  ),
  MAIL_FROM: Type.String({ minLength: 3, default: 'Welcome <welcome@example.com>' }),
  ADMIN_TOKEN: Type.Optional(Type.String({ minLength: 16, description: 'at least 16 characters' })),
  /** How often consumer pending / ack-pending are polled from the server for /metrics. */
  NOTIFY_METRICS_POLL_MS: IntEnv(5000, 100, 600_000),
  NOTIFY_GRACE_MS: IntEnv(10_000, 100, 600_000),
  /** Redis holds only the admin routes' rate-limit counters (Redis down: no limits, no outage). */
  NOTIFY_REDIS_PREFIX: Type.String({ default: 'notify:' }),
  NOTIFY_RATE_WINDOW_MS: IntEnv(60_000, 1000),
  /** Admin requests per client IP per window. */
  NOTIFY_RATE_ADMIN_MAX: IntEnv(120, 1),
  /** Wrong admin tokens per client IP per window; past it, that IP is refused (429) until the window ends. */
  NOTIFY_RATE_ADMIN_FAILURES_MAX: IntEnv(10, 1),
});

export type Config = Static<typeof ConfigSchema>;

export function loadConfig(env: Record<string, string | undefined>): Config {
  return load(ConfigSchema, env);
}
