// `app.profiles`: the profile read and update paths, wired to Redis (the cache), Postgres (the
// truth, with the outbox) and NATS (in-process tier invalidation across replicas). Route handlers
// only call this decorator.
import { names } from '@app/contracts';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Bulkhead } from '../lib/bulkhead.js';
import { CircuitBreaker } from '../lib/breaker.js';
import { cacheKeys } from '../lib/cache-keys.js';
import type { CachedProfile, PublicProfile } from '../lib/entry.js';
import { LocalTier } from '../lib/local-tier.js';
import { createCacheMetrics, type CacheMetrics } from '../lib/metrics.js';
import { ProfileCache, type ManyResult, type ReadResult } from '../lib/profile-cache.js';
import { ProfileStore, type ProfilePatch } from '../lib/profile-store.js';
import type { Config } from '../config.js';

export interface ProfilesPluginOptions {
  config: Config;
  /** The outbox producer this service's events are written under (its SERVICE_NAME). */
  producer: string;
  /** Test hook: holds a read after its database read (the stale-set race test). */
  afterDbRead?: ((ids: string[]) => Promise<void>) | undefined;
}

export interface Profiles {
  /** The in-process tier's answer without an async hop; undefined: call `load`. */
  peek(id: string): CachedProfile | undefined;
  /** Past the in-process tier: Redis, then Postgres (single-flight, lease, breaker, bulkhead). */
  load(id: string): Promise<ReadResult>;
  getMany(ids: string[]): Promise<ManyResult>;
  /** Commits the update (and its event), then makes every cache tier right. Null: no such profile. */
  update(id: string, patch: ProfilePatch, traceparent?: string): Promise<PublicProfile | null>;
  /** Drops the negative entry of a user who just signed up. */
  clearNegative(id: string): Promise<boolean>;
  readonly cache: ProfileCache;
  readonly metrics: CacheMetrics;
  readonly breaker: CircuitBreaker;
}

declare module 'fastify' {
  interface FastifyInstance {
    profiles: Profiles;
  }
}

async function waitForRedis(app: FastifyInstance, timeoutMs: number): Promise<void> {
  if (app.redis.status === 'ready' || timeoutMs === 0) return;
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      app.redis.off('ready', done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    app.redis.once('ready', done);
  });
}

interface InvalidateMessage {
  id: string;
  version: number;
}

export const profilesPlugin = fp<ProfilesPluginOptions>(
  async (app: FastifyInstance, { config, producer, afterDbRead }) => {
    const log = app.log.child({ plugin: 'profiles' });
    // Give Redis a moment at start-up so the first requests are not needless BYPASSes; a Redis
    // that stays down does not stop the service from starting (it serves from Postgres).
    await waitForRedis(app, config.PROFILE_REDIS_STARTUP_WAIT_MS);
    const n = names(config.NATS_NAMESPACE);
    const metrics = createCacheMetrics(app.metrics.registry);
    const breaker = new CircuitBreaker({
      failureThreshold: config.PROFILE_BREAKER_FAILURES,
      openMs: config.PROFILE_BREAKER_OPEN_MS,
      onStateChange: (state) => {
        metrics.setBreakerState(state);
        log.warn({ state }, `redis circuit ${state}`);
      },
    });
    const local = config.PROFILE_LOCAL_CACHE
      ? new LocalTier({
          maxEntries: config.PROFILE_LOCAL_MAX_ENTRIES,
          ttlMs: config.PROFILE_LOCAL_TTL_MS,
        })
      : undefined;
    const store = new ProfileStore(app.prisma, n.subjects.userProfileUpdated, producer);
    const cache = new ProfileCache({
      redis: app.redis,
      keys: cacheKeys(config.PROFILE_REDIS_PREFIX, config.PROFILE_CACHE_SCHEMA_VERSION),
      source: store,
      breaker,
      bulkhead: new Bulkhead({
        maxConcurrent: config.PROFILE_DB_MAX_CONCURRENT,
        maxQueue: config.PROFILE_DB_MAX_QUEUE,
        queueTimeoutMs: config.PROFILE_DB_QUEUE_TIMEOUT_MS,
      }),
      metrics,
      local,
      log,
      ttlMs: config.PROFILE_CACHE_TTL_SECONDS * 1000,
      jitterRatio: config.PROFILE_CACHE_TTL_JITTER,
      staleMs: config.PROFILE_CACHE_STALE_SECONDS * 1000,
      negativeTtlMs: config.PROFILE_NEGATIVE_TTL_SECONDS * 1000,
      leaseMs: config.PROFILE_LEASE_MS,
      leaseWaitMs: config.PROFILE_LEASE_WAIT_MS,
      leasePollMs: config.PROFILE_LEASE_POLL_MS,
      afterDbRead,
    });

    // Every replica (this one included) drops its in-process copy when any replica updates.
    let closing = false;
    let unsubscribe: (() => void) | undefined;
    if (local) {
      void app.nats.whenConnected().then(() => {
        if (closing || !app.nats.connected) return;
        const sub = app.nats.nc.subscribe(n.subjects.profileInvalidate, {
          callback: (err, msg) => {
            if (err) return;
            try {
              const { id, version } = msg.json<InvalidateMessage>();
              if (typeof id === 'string' && Number.isInteger(version)) {
                cache.invalidateLocal(id, version);
              }
            } catch {
              log.warn('malformed profile invalidation message ignored');
            }
          },
        });
        unsubscribe = () => sub.unsubscribe();
      });
    }

    const publishInvalidation = (profile: PublicProfile) => {
      if (!local || !app.nats.connected) return;
      try {
        const message: InvalidateMessage = { id: profile.id, version: profile.version };
        app.nats.nc.publish(n.subjects.profileInvalidate, JSON.stringify(message));
      } catch (err) {
        // Lost invalidations are bounded by the local tier's TTL (README "staleness bound").
        log.warn({ err, id: profile.id }, 'profile invalidation not published');
      }
    };

    app.decorate('profiles', {
      peek: (id) => cache.peek(id),
      load: (id) => cache.load(id),
      getMany: (ids) => cache.getMany(ids),
      async update(id, patch, traceparent) {
        const profile = await store.update(id, patch, traceparent);
        if (profile) {
          await cache.afterUpdate(profile);
          publishInvalidation(profile);
        }
        return profile;
      },
      clearNegative: (id) => cache.clearNegative(id),
      cache,
      metrics,
      breaker,
    } satisfies Profiles);

    app.addHook('onClose', async () => {
      closing = true;
      unsubscribe?.();
      cache.close();
    });
  },
  { name: 'profiles', fastify: '5.x', dependencies: ['redis', 'prisma', 'nats', 'metrics'] },
);
