// Test harness of signup-service: `testEnv` isolates real Postgres, Redis and NATS for a test (own
// database, key prefix, NATS namespace with its streams provisioned) and `build` makes an app
// instance on it (several replicas may share one env), closed in teardown.
import { createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { once } from 'node:events';
import { topology } from '@app/contracts';
import { createPrisma, type PrismaClient } from '@app/db';
import type { App } from '@app/platform';
import {
  isolatedSystem,
  serviceBuilder,
  type IsolatedNats,
  type IsolatedRedis,
  type TestLike,
  type BuildOverrides,
} from '@app/testing';
import type { JetStreamManager } from '@nats-io/jetstream';
import * as service from '../src/index.js';
import type { Config, Deps } from '../src/index.js';

export const keys = (() => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
})();

/** The streams of a namespace, as @app/contracts declares them. */
export async function provisionStreams(jsm: JetStreamManager, namespace: string): Promise<void> {
  for (const s of topology({ namespace }).streams) await jsm.streams.add(s);
}

export interface TestEnv {
  /** The environment every instance built on this env gets (build's `vars` go over it). */
  vars: Record<string, string>;
  databaseUrl: string;
  namespace: string;
  nats: IsolatedNats;
  redis: IsolatedRedis;
  /** A client of the test's database, to look at what the service wrote. */
  prisma: PrismaClient;
}

export interface Built {
  app: App;
  config: Config;
  env: TestEnv;
}

export async function testEnv(t: TestLike, vars: Record<string, string> = {}): Promise<TestEnv> {
  const { db, redis, nats, vars: shared } = await isolatedSystem(t);
  await provisionStreams(nats.jsm, nats.namespace);
  const prisma = createPrisma(db.url, { max: 2 });
  t.teardown(() => prisma.$disconnect());
  return {
    vars: {
      ...shared,
      SIGNUP_REDIS_PREFIX: redis.prefix,
      JWT_PRIVATE_KEY: keys.privateKey,
      JWT_PUBLIC_KEY: keys.publicKey,
      LOG_LEVEL: 'silent',
      SIGNUP_SCRYPT_LOG_N: '12',
      SIGNUP_RATE_SIGNUP_MAX: '100000',
      SIGNUP_RATE_LOGIN_IP_MAX: '100000',
      SIGNUP_RATE_LOGIN_EMAIL_MAX: '100000',
      SIGNUP_RELAY_POLL_MS: '60000',
      ...vars,
    },
    databaseUrl: db.url,
    namespace: nats.namespace,
    nats,
    redis,
    prisma,
  };
}

/** One app instance: built, ready, with Redis connected (and the relay running), closed in teardown. */
export const build: (t: TestLike, overrides?: BuildOverrides<TestEnv, Deps>) => Promise<Built> =
  serviceBuilder(service, testEnv, {
    // Silent by default through LOG_LEVEL, so a test can raise it without passing a logger.
    deps: { logger: undefined },
    async afterStart({ app, config }) {
      // The limiter lets requests through while Redis connects: wait so limits count from the start.
      if (app.redis.status !== 'ready') await once(app.redis, 'ready');
      if (config.SIGNUP_RELAY_ENABLED) await app.outboxRelay.started();
    },
  });

/** Rows the signup transaction writes, to prove a request wrote all of them or none. */
export async function counts(env: TestEnv) {
  const [users, profiles, events] = await Promise.all([
    env.prisma.user.count(),
    env.prisma.profile.count(),
    env.prisma.outboxEvent.count(),
  ]);
  return { users, profiles, events };
}

let n = 0;
export function signupBody(overrides: Record<string, unknown> = {}) {
  n++;
  return {
    email: `user${n}.${Date.now()}.${Math.random().toString(36).slice(2, 8)}@example.com`,
    password: 'correct horse 9 battery',
    displayName: `User ${n}`,
    ...overrides,
  };
}

/** POST /v1/signup with a JSON body (and optional headers). */
export function postSignup(
  app: App,
  payload: Record<string, unknown>,
  headers: Record<string, string> = {},
) {
  return app.inject({ method: 'POST', url: '/v1/signup', payload, headers });
}

/** Verifies an EdDSA JWT with nothing but the public key (as profile-service would) and returns its claims. */
export function verifyWithPublicKey(token: string, publicKeyPem: string): Record<string, unknown> {
  const [h, p, s] = token.split('.');
  if (!h || !p || !s) throw new Error('not a JWT');
  const header = JSON.parse(Buffer.from(h, 'base64url').toString());
  if (header.alg !== 'EdDSA') throw new Error(`unexpected alg ${header.alg}`);
  const ok = verify(
    null,
    Buffer.from(`${h}.${p}`),
    createPublicKey(publicKeyPem),
    Buffer.from(s, 'base64url'),
  );
  if (!ok) throw new Error('bad signature');
  return JSON.parse(Buffer.from(p, 'base64url').toString());
}
