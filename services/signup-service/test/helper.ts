// Builds signup-service for one test against real Postgres, Redis and NATS, each isolated (own
// database, key prefix, NATS namespace with its streams provisioned), and closes it in teardown.
import { generateKeyPairSync, createPublicKey, verify } from 'node:crypto';
import { once } from 'node:events';
import { topology } from '@app/contracts';
import { isolatedDatabase, isolatedNats, isolatedRedis, type TestLike } from '@app/testing';
import type { JetStreamManager } from '@nats-io/jetstream';
import pg from 'pg';
import { buildApp, type BuildDeps } from '../src/app.js';
import { loadConfig, type SignupConfig } from '../src/config.js';

export const keys = (() => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
})();

export async function provisionStreams(jsm: JetStreamManager, namespace: string): Promise<void> {
  for (const s of topology({ namespace }).streams) await jsm.streams.add(s);
}

export interface TestContext {
  config: SignupConfig;
  databaseUrl: string;
  namespace: string;
  nats: Awaited<ReturnType<typeof isolatedNats>>;
}

export async function testConfig(t: TestLike, overrides: Record<string, string> = {}) {
  const [db, redis, nats] = await Promise.all([
    isolatedDatabase(t),
    isolatedRedis(t),
    isolatedNats(t),
  ]);
  await provisionStreams(nats.jsm, nats.namespace);
  const config = loadConfig({
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    NATS_URL: nats.url,
    NATS_NAMESPACE: nats.namespace,
    SIGNUP_REDIS_PREFIX: redis.prefix,
    JWT_PRIVATE_KEY: keys.privateKey,
    JWT_PUBLIC_KEY: keys.publicKey,
    LOG_LEVEL: 'silent',
    SIGNUP_SCRYPT_LOG_N: '12',
    SIGNUP_RATE_SIGNUP_MAX: '100000',
    SIGNUP_RATE_LOGIN_IP_MAX: '100000',
    SIGNUP_RATE_LOGIN_EMAIL_MAX: '100000',
    SIGNUP_RELAY_POLL_MS: '60000',
    ...overrides,
  });
  return { config, databaseUrl: db.url, namespace: nats.namespace, nats, redis };
}

/** The app for one test: built, ready, with Redis connected, closed in teardown. */
export async function build(t: TestLike, config: SignupConfig, deps: BuildDeps = {}) {
  const app = await buildApp(config, deps);
  t.teardown(() => app.close());
  await app.ready();
  // The limiter lets requests through while Redis connects: wait so limits count from the start.
  if (app.redis.status !== 'ready') await once(app.redis, 'ready');
  if (config.SIGNUP_RELAY_ENABLED) await app.outboxRelay.started();
  return app;
}

export async function sql<T extends pg.QueryResultRow>(
  databaseUrl: string,
  text: string,
  values: unknown[] = [],
) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

export async function counts(databaseUrl: string) {
  const rows = await sql<{ users: number; profiles: number; events: number }>(
    databaseUrl,
    `SELECT (SELECT count(*)::int FROM users) AS users, (SELECT count(*)::int FROM profiles) AS profiles,
            (SELECT count(*)::int FROM outbox_events) AS events`,
  );
  return rows[0]!;
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
