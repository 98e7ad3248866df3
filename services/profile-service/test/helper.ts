// Test harness of profile-service: an isolated database, Redis key prefix and NATS namespace per
// test file (with the namespace's streams and consumers provisioned), a test Ed25519 key pair to
// sign tokens, users to read, and `build()` for as many app instances (replicas) as a test needs,
// each closed in teardown.
import { generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import { topology } from '@app/contracts';
import { createPrisma, type PrismaClient } from '@app/db';
import { provision, type App } from '@app/platform';
import { isolatedDatabase, isolatedNats, isolatedRedis, type IsolatedNats } from '@app/testing';
import type { Redis } from 'ioredis';
import { buildApp, type ProfileDeps } from '../src/app.js';
import { profileConfig } from '../src/config.js';

export interface TapLike {
  teardown(fn: () => unknown): void;
}

export interface Harness {
  env: Record<string, string>;
  redis: Redis;
  redisPrefix: string;
  nats: IsolatedNats;
  prisma: PrismaClient;
  /** A new app instance (a replica) on the shared test env, closed in teardown. */
  build(overrides?: Record<string, string>, deps?: ProfileDeps): Promise<App>;
  /** A user with a profile, straight into Postgres. */
  createUser(displayName?: string, id?: string): Promise<string>;
  /** A token signed with the test private key; `sub` = userId. */
  token(sub: string, claims?: Record<string, unknown>, key?: KeyObject): string;
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

export function signJwt(payload: Record<string, unknown>, privateKey: KeyObject): string {
  const head = `${b64({ alg: 'EdDSA', typ: 'JWT' })}.${b64(payload)}`;
  return `${head}.${sign(null, Buffer.from(head), privateKey).toString('base64url')}`;
}

export async function harness(t: TapLike, extraEnv: Record<string, string> = {}): Promise<Harness> {
  const [db, redis, nats] = await Promise.all([
    isolatedDatabase(t),
    isolatedRedis(t),
    isolatedNats(t),
  ]);
  await provision(nats.jsm, topology({ namespace: nats.namespace }), { check: false });
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const prisma = createPrisma(db.url, { max: 4 });
  t.teardown(() => prisma.$disconnect());

  const env: Record<string, string> = {
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    NATS_URL: nats.url,
    NATS_NAMESPACE: nats.namespace,
    PROFILE_REDIS_PREFIX: redis.prefix,
    JWT_PUBLIC_KEY: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    LOG_LEVEL: 'silent',
    // Loaded CI machines: a slow answer must not look like a dead Redis in tests about caching.
    PROFILE_REDIS_TIMEOUT_MS: '2000',
    PROFILE_LEASE_WAIT_MS: '20000',
    PROFILE_LEASE_MS: '20000',
    // Tests that are not about the update limit may write one profile many times.
    PROFILE_RATE_PATCH_MAX: '100000',
    ...extraEnv,
  };

  return {
    env,
    redis: redis.client,
    redisPrefix: redis.prefix,
    nats,
    prisma,
    async build(overrides = {}, deps = {}) {
      const app = await buildApp(profileConfig({ ...env, ...overrides }), {
        logger: false,
        ...deps,
      });
      t.teardown(() => app.close());
      await app.ready();
      return app;
    },
    async createUser(displayName = 'Ada Lovelace', id = randomUUID()) {
      await prisma.user.create({
        data: {
          id,
          email: `${id}@example.test`,
          passwordHash: 'not-a-real-hash',
          profile: { create: { displayName } },
        },
      });
      return id;
    },
    token(sub, claims = {}, key = privateKey) {
      const now = Math.floor(Date.now() / 1000);
      return signJwt(
        { sub, iss: 'signup-service', aud: 'app', iat: now, exp: now + 300, ...claims },
        key,
      );
    },
  };
}

/** The value of a counter (summed over its labels, or for one label set) on an app's registry. */
export async function metricValue(
  app: App,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = app.metrics.registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  return values
    .filter((v) =>
      Object.entries(labels).every(
        ([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want,
      ),
    )
    .reduce((sum, v) => sum + v.value, 0);
}

/** Resolves when `check` returns true; rejects after `timeoutMs` with `what` in the message. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 30_000,
  intervalMs = 20,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A gate a test opens by hand: `wait()` blocks until `open()`. */
export function gate(): { wait: Promise<void>; open(): void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}
