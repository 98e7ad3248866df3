// The isolated world one scenario runs in: its own migrated database, Redis key prefix and NATS
// namespace (from @app/testing, whose teardowns go to the scenario's collector), the JetStream
// topology of that namespace, and the secrets services need, generated fresh for the run.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { topology } from '@app/contracts';
import { isolatedDatabase, isolatedNats, isolatedRedis, type IsolatedNats } from '@app/testing';
import type { Redis } from 'ioredis';
import type { ScenarioContext } from './harness.js';

export const PACKAGE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_DIR = resolve(PACKAGE_DIR, '..', '..');

export function serviceDir(name: 'signup-service' | 'profile-service' | 'notification-service') {
  return join(REPO_DIR, 'services', name);
}

export interface BenchEnv {
  databaseUrl: string;
  databaseName: string;
  redisUrl: string;
  /** Every Redis key of the scenario starts with it (`t:<hex>:`). */
  redisPrefix: string;
  redis: Redis;
  natsUrl: string;
  namespace: string;
  nats: IsolatedNats;
  jwtPrivateKey: string;
  jwtPublicKey: string;
  adminToken: string;
}

/** Streams and consumers of the namespace, declared exactly as the provisioning command does. */
export async function provisionTopology(
  nats: IsolatedNats,
  options: Parameters<typeof topology>[0] = {},
): Promise<ReturnType<typeof topology>> {
  const topo = topology({ ...options, namespace: nats.namespace });
  for (const stream of topo.streams) await nats.jsm.streams.add(stream);
  for (const consumer of topo.consumers) {
    await nats.jsm.consumers.add(consumer.stream, consumer.config);
  }
  return topo;
}

export async function benchEnv(ctx: ScenarioContext): Promise<BenchEnv> {
  const [db, redis, nats] = await Promise.all([
    isolatedDatabase(ctx),
    isolatedRedis(ctx),
    isolatedNats(ctx),
  ]);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519', {
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return {
    databaseUrl: db.url,
    databaseName: db.name,
    redisUrl: redis.url,
    redisPrefix: redis.prefix,
    redis: redis.client,
    natsUrl: nats.url,
    namespace: nats.namespace,
    nats,
    jwtPrivateKey: privateKey,
    jwtPublicKey: publicKey,
    adminToken: randomBytes(24).toString('hex'),
  };
}

/** The variables every service shares, pointed at the scenario's isolated resources. */
export function commonServiceEnv(env: BenchEnv, port: number): Record<string, string> {
  return {
    DATABASE_URL: env.databaseUrl,
    REDIS_URL: env.redisUrl,
    NATS_URL: env.natsUrl,
    NATS_NAMESPACE: env.namespace,
    PORT: String(port),
    HOST: '127.0.0.1',
    // What ships (deploy/k8s/base/config.env, docker-compose.yml): a line per request.
    LOG_LEVEL: 'info',
    JWT_PRIVATE_KEY: env.jwtPrivateKey,
    JWT_PUBLIC_KEY: env.jwtPublicKey,
    ADMIN_TOKEN: env.adminToken,
    NODE_ENV: 'production',
  };
}
