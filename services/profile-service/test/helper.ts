// Test harness of profile-service: `testEnv` makes an isolated database, Redis key prefix and NATS
// namespace per test (with the namespace's streams and consumers provisioned), a key pair that
// signs access tokens, and the users to read; `build` makes one app instance (a replica) on such
// an env, closed in teardown. Several replicas are several `build(t, { env })` calls.
// PROFILE_TEST_REDIS (JSON of REDIS_* variables, set by redis-modes.test.ts for the files it runs)
// points every env at a private Redis Cluster or Sentinel group instead of the shared Redis.
import { createPublicKey, generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { makeEnvelope, names, topology } from '@app/contracts';
import { createPrisma, type PrismaClient } from '@app/db';
import { jwtAlgorithmFor, provision, type App } from '@app/platform';
import {
  connectRedisTopology,
  isolatedSystem,
  scanKeys,
  serviceBuilder,
  type IsolatedNats,
  type BuildOverrides,
} from '@app/testing';
import jwt from '@fastify/jwt';
import Fastify from 'fastify';
import type { RedisClient } from '@app/platform';
import * as service from '../src/index.js';
import type { Config, Deps } from '../src/index.js';

export interface TapLike {
  teardown(fn: () => unknown): void;
}

/** Signs a JWT payload (a compact JWS) with one private key. */
export type Signer = (payload: Record<string, unknown>) => string;

export interface TestEnv {
  /** The variables every app instance on this env gets (`build` merges its own over them). */
  vars: Record<string, string>;
  /** A client without a key prefix on the Redis the apps use (a Cluster client in that mode). */
  redis: RedisClient;
  redisPrefix: string;
  /** Every key matching `pattern`, on every master. */
  scanKeys(pattern: string): Promise<string[]>;
  nats: IsolatedNats;
  prisma: PrismaClient;
  /** A user with a profile, straight into Postgres. */
  createUser(displayName?: string, id?: string): Promise<string>;
  /** A token for `sub` as signup-service issues it, signed with this env's key (or `signer`). */
  token(sub: string, claims?: Record<string, unknown>, signer?: Signer): string;
  /** Publishes `user.signed_up` for `userId` and resolves once profile-cache has acked it. */
  signedUp(userId: string): Promise<void>;
}

export interface Built {
  app: App;
  config: Config;
  env: TestEnv;
}

/**
 * A signer for `privateKey` through @fastify/jwt (fast-jwt), a JOSE implementation other than the
 * service's (jose), with the algorithm the key is for (Ed25519: EdDSA, P-256: ES256).
 */
export async function jwtSigner(t: TapLike, privateKey: KeyObject): Promise<Signer> {
  const publicPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
  const signer = Fastify({ logger: false });
  await signer.register(jwt, {
    secret: {
      private: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      public: publicPem,
    },
    sign: { algorithm: jwtAlgorithmFor(publicPem, 'JWT_PUBLIC_KEY') },
  });
  await signer.ready();
  t.teardown(() => signer.close());
  return (payload) => signer.jwt.sign(payload);
}

/** A key pair of the kind signup-service may be given: Ed25519 (EdDSA) or P-256 (ES256). */
export function keyPair(kind: 'ed25519' | 'p256'): { privateKey: KeyObject; publicPem: string } {
  const { privateKey, publicKey } =
    kind === 'ed25519'
      ? generateKeyPairSync('ed25519')
      : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/**
 * The REDIS_* variables of the private topology an env is pointed at, if any: given in `vars`
 * (`testEnv(t, cluster.env)`), or for the whole run in PROFILE_TEST_REDIS.
 */
function redisModeVars(vars: Record<string, string>): Record<string, string> | undefined {
  if (vars.REDIS_CLUSTER_NODES || vars.REDIS_SENTINELS) return vars;
  const json = process.env.PROFILE_TEST_REDIS;
  return json ? (JSON.parse(json) as Record<string, string>) : undefined;
}

/** The client a test inspects keys with: the shared Redis's, or one of the private topology. */
async function inspectionClient(
  t: TapLike,
  shared: RedisClient,
  prefix: string,
  mode: Record<string, string> | undefined,
): Promise<RedisClient> {
  if (!mode) return shared;
  const client = await connectRedisTopology(mode);
  t.teardown(async () => {
    try {
      const keys = await scanKeys(client, `${prefix}*`);
      await Promise.all(keys.map((key) => client.unlink(key)));
    } catch {
      // A node a failover test killed: the topology is private and goes away with its keys.
    } finally {
      client.disconnect();
    }
  });
  return client;
}

export async function testEnv(t: TapLike, vars: Record<string, string> = {}): Promise<TestEnv> {
  const { db, redis, nats, vars: shared } = await isolatedSystem(t);
  const mode = redisModeVars(vars);
  const client = await inspectionClient(t, redis.client, redis.prefix, mode);
  await provision(nats.jsm, topology({ namespace: nats.namespace }), { check: false });
  const keys = keyPair('ed25519');
  const sign = await jwtSigner(t, keys.privateKey);
  const prisma = createPrisma(db.url, { max: 4 });
  t.teardown(() => prisma.$disconnect());
  const n = names(nats.namespace);

  return {
    vars: {
      ...shared,
      ...mode,
      PROFILE_REDIS_PREFIX: redis.prefix,
      JWT_PUBLIC_KEY: keys.publicPem,
      LOG_LEVEL: 'silent',
      // Loaded CI machines: a slow answer must not look like a dead Redis in tests about caching.
      PROFILE_REDIS_TIMEOUT_MS: '2000',
      PROFILE_LEASE_WAIT_MS: '20000',
      PROFILE_LEASE_MS: '20000',
      // Tests that are not about the update limit may write one profile many times.
      PROFILE_RATE_PATCH_MAX: '100000',
      ...vars,
    },
    redis: client,
    redisPrefix: redis.prefix,
    scanKeys: (pattern) => scanKeys(client, pattern),
    nats,
    prisma,
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
    token(sub, claims = {}, signer = sign) {
      const now = Math.floor(Date.now() / 1000);
      return signer({
        sub,
        iss: 'signup-service',
        aud: 'app',
        iat: now,
        exp: now + 300,
        ...claims,
      });
    },
    async signedUp(userId) {
      const event = makeEnvelope('user.signed_up', 1, {
        userId,
        email: `${userId}@example.test`,
        displayName: 'Newcomer',
      });
      const ack = await nats.js.publish(n.subjects.userSignedUp, JSON.stringify(event), {
        msgID: event.id,
      });
      // Wait for the event itself: the durable consumer has acked it.
      await waitFor('profile-cache to ack the signup', async () => {
        const info = await nats.jsm.consumers.info(n.streams.users, n.consumers.profileCache);
        return info.ack_floor.stream_seq >= ack.seq;
      });
    },
  };
}

/** One app instance on `env` (a new env unless given), ready, closed in teardown. */
export const build: (t: TapLike, overrides?: BuildOverrides<TestEnv, Deps>) => Promise<Built> =
  serviceBuilder(service, testEnv);

/** PATCH /v1/profiles/:id with `body`, and a bearer token unless `token` is undefined. */
export function patchProfile(app: App, id: string, body: unknown, token?: string) {
  return app.inject({
    method: 'PATCH',
    url: `/v1/profiles/${id}`,
    payload: body as Record<string, unknown>,
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
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

/** The sum of `metricValue` over several app instances (replicas). */
export async function metricTotal(apps: App[], name: string): Promise<number> {
  const values = await Promise.all(apps.map((app) => metricValue(app, name)));
  return values.reduce((a, b) => a + b, 0);
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
