// The Redis connection as `app.redis` (ioredis). Owns the client so it can offer both start-up
// behaviours: `required` (default) fails start-up on a bad URL; `required: false` starts anyway and
// keeps reconnecting in the background, with commands failing fast instead of queueing, for a
// service that can serve without its cache. @fastify/redis is not used because it always waits
// for the first connection during registration, which is exactly what `required: false` must not.
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Redis } from 'ioredis';
import { redactUrl } from '@app/contracts';
import { withTimeout } from '../util.js';

export interface RedisPluginOptions {
  url: string;
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

declare module 'fastify' {
  interface FastifyInstance {
    /** ioredis; `app.redis.ping()` is the cheap readiness probe. */
    redis: Redis;
  }
}

export const redisPlugin = fp<RedisPluginOptions>(
  async (app: FastifyInstance, options) => {
    const lazy = options.lazy ?? false;
    const required = !lazy && (options.required ?? true);
    const connectTimeoutMs = options.connectTimeoutMs ?? 2000;
    const log = app.log.child({ plugin: 'redis' });
    const where = redactUrl(options.url);

    const client = new Redis(options.url, {
      ...(options.keyPrefix ? { keyPrefix: options.keyPrefix } : {}),
      ...(options.connectionName ? { connectionName: options.connectionName } : {}),
      lazyConnect: true,
      connectTimeout: connectTimeoutMs,
      commandTimeout: options.commandTimeoutMs ?? 1000,
      // While disconnected a command fails at once: a cache outage must cost nothing per request.
      // Lazy mode needs the queue, since its first command is what opens the connection.
      enableOfflineQueue: lazy,
      maxRetriesPerRequest: 1,
      // Commands issued in one turn of the event loop (concurrent requests' reads, fills, leases)
      // leave in one write and one round trip, as the Batcher does for MGETs.
      enableAutoPipelining: true,
      retryStrategy: (attempt) => Math.min(100 * 2 ** Math.min(attempt, 6), 5000),
    });

    let healthy = false;
    client.on('ready', () => {
      if (!healthy) log.info({ redis: where }, 'redis connected');
      healthy = true;
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

    app.decorate('redis', client);
    app.addHook('onClose', async () => {
      if (client.status === 'ready') {
        await client.quit().catch(() => client.disconnect());
      } else {
        client.disconnect();
      }
    });
  },
  { name: 'redis', fastify: '5.x' },
);
