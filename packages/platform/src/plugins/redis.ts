// The Redis connection as `app.redis` (ioredis). Owns the client so it can offer both start-up
// behaviours: `required` (default) fails start-up on a bad URL; `required: false` starts anyway and
// keeps reconnecting in the background, with commands failing fast instead of queueing, for a
// service that can serve without its cache. @fastify/redis is not used because it always waits
// for the first connection during registration, which is exactly what `required: false` must not.
// The same behaviour options apply to one node, a Redis Cluster and a Sentinel-managed master.
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { describeRedisTopology, type RedisTopology } from '../redis-topology.js';
import { withTimeout } from '../util.js';

/** What `app.redis` is: one node's (or a Sentinel master's) client, or a Cluster client. */
export type RedisClient = Redis | Cluster;

interface RedisBehaviourOptions {
  /** Prepended to every key (tests use a random one). */
  keyPrefix?: string;
  connectTimeoutMs?: number;
  /** A command without an answer within this fails (default 1000 ms). */
  commandTimeoutMs?: number;
  /** Fail start-up when Redis is unreachable (default true). */
  required?: boolean;
  /** Do not connect until the first command (implies `required: false`). */
  lazy?: boolean;
  /** Shown in `CLIENT LIST`. */
  connectionName?: string;
}

/** `url` for one node, or the `topology` a service's config selects (`redisTopology(config)`). */
export type RedisPluginOptions = RedisBehaviourOptions &
  ({ url: string; topology?: never } | { topology: RedisTopology; url?: never });

declare module 'fastify' {
  interface FastifyInstance {
    /** ioredis (Redis or Cluster); `app.redis.ping()` is the cheap readiness probe. */
    redis: RedisClient;
  }
}

const retryStrategy = (attempt: number) => Math.min(100 * 2 ** Math.min(attempt, 6), 5000);

function createClient(topology: RedisTopology, options: RedisBehaviourOptions): RedisClient {
  const lazy = options.lazy ?? false;
  const { keyPrefix, connectionName } = options;
  const connection = {
    ...(connectionName ? { connectionName } : {}),
    connectTimeout: options.connectTimeoutMs ?? 2000,
    commandTimeout: options.commandTimeoutMs ?? 1000,
    maxRetriesPerRequest: 1,
  } satisfies RedisOptions;
  const behaviour = {
    ...(keyPrefix ? { keyPrefix } : {}),
    lazyConnect: true,
    // While disconnected a command fails at once: a cache outage must cost nothing per request.
    // Lazy mode needs the queue, since its first command is what opens the connection.
    enableOfflineQueue: lazy,
    // Commands issued in one turn of the event loop (concurrent requests' reads, fills, leases)
    // leave in one write and one round trip, as the Batcher does for MGETs.
    enableAutoPipelining: true,
  };
  switch (topology.mode) {
    case 'single':
      return new Redis(topology.url, { ...connection, ...behaviour, retryStrategy });
    case 'cluster':
      // keyPrefix belongs to the Cluster, which hashes the prefixed key to find its slot.
      return new Cluster(topology.nodes, {
        ...behaviour,
        // Reads from masters only: a replica may not have an update's write yet.
        scaleReads: 'master',
        clusterRetryStrategy: retryStrategy,
        redisOptions: {
          ...connection,
          ...(topology.password ? { password: topology.password } : {}),
        },
      });
    case 'sentinel':
      return new Redis({
        ...connection,
        ...behaviour,
        retryStrategy,
        sentinels: topology.sentinels,
        name: topology.name,
        ...(topology.password ? { password: topology.password } : {}),
        ...(topology.sentinelPassword ? { sentinelPassword: topology.sentinelPassword } : {}),
        sentinelRetryStrategy: retryStrategy,
        // Follows the sentinels' +switch-master at once instead of waiting for a reconnect.
        failoverDetector: true,
      });
  }
}

export const redisPlugin = fp<RedisPluginOptions>(
  async (app: FastifyInstance, options) => {
    const lazy = options.lazy ?? false;
    const required = !lazy && (options.required ?? true);
    const connectTimeoutMs = options.connectTimeoutMs ?? 2000;
    const log = app.log.child({ plugin: 'redis' });
    const topology = options.topology ?? { mode: 'single', url: options.url };
    const where = describeRedisTopology(topology);
    const client = createClient(topology, options);

    let healthy = false;
    client.on('ready', () => {
      if (!healthy) log.info({ redis: where, mode: topology.mode }, 'redis connected');
      healthy = true;
    });
    // A Cluster reports a node it cannot reach (a master that died) here, and keeps serving the
    // slots of the others; the slot map is refreshed once a replica has taken over.
    client.on('node error', (err: Error, node: string) => {
      log.warn({ err, redis: where, node }, 'redis cluster node error');
    });
    // ioredis emits 'error' on each failed reconnect; log the transition, not every attempt.
    client.on('error', (err: Error) => {
      if (healthy || !required) log.warn({ err, redis: where }, 'redis connection error');
      healthy = false;
    });
    client.on('end', () => {
      healthy = false;
    });

    if (required) {
      try {
        await withTimeout(client.connect(), connectTimeoutMs + 500, `connecting to ${where}`);
      } catch (err) {
        client.disconnect();
        throw new Error(`Redis at ${where} is unreachable: ${(err as Error).message}`, {
          cause: err,
        });
      }
    } else if (!lazy) {
      client.connect().catch((err: unknown) => {
        log.warn(
          { err, redis: where },
          'redis unavailable at start-up; retrying in the background',
        );
      });
    }

    app.decorate<RedisClient>('redis', client);
    app.addHook('onClose', async () => {
      if (client.status === 'ready') {
        await client.quit().catch(() => client.disconnect());
        // quit() leaves a Sentinel client's failover-detector connections open; this closes them.
        if (client instanceof Redis) client.disconnect();
      } else {
        client.disconnect();
      }
    });
  },
  { name: 'redis', fastify: '5.x' },
);
