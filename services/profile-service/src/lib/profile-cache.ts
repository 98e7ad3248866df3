// Cache-aside for profiles over Redis, with the rules of DESIGN.md "Cache rules": versioned keys,
// TTL with jitter on every key, fills through a compare-and-set script that refuses a version
// older than the cached one (so a read that saw the database before an update can never put the
// old value back), single-flight in process plus a short Redis lease across replicas, negative
// entries for unknown ids, soft expiry with stale serving while one replica refreshes, and a
// circuit breaker + bulkhead so that a sick Redis costs Postgres a bounded number of reads.
// The batch read takes the same path per id (shared flights, leases, CAS fills), with one query
// for the ids it holds the lease for. Lookups of reads that arrive together go to Redis as one
// MGET (one per hash slot on a Cluster) and their misses to Postgres as one query (platform's
// Batcher); the scripts run by SHA.
import { randomUUID } from 'node:crypto';
import type { Logger } from '@app/contracts';
import { Batcher, type RedisClient } from '@app/platform';
import type { Bulkhead } from './bulkhead.js';
import type { CircuitBreaker } from './breaker.js';
import type { CacheKeys } from './cache-keys.js';
import {
  decodeEntry,
  encodeFloor,
  encodeNegative,
  encodeProfile,
  jitter,
  toCached,
  type CacheEntry,
  type CachedProfile,
  type PublicProfile,
} from './entry.js';
import type { LocalTier } from './local-tier.js';
import type { CacheMetrics } from './metrics.js';
import {
  CLEAR_NEGATIVE_SCRIPT,
  FILL_SCRIPT,
  LEASE_SCRIPT,
  RELEASE_LEASE_SCRIPT,
} from './scripts.js';
import { SingleFlight } from './single-flight.js';
import { multiGet, type MultiGet } from './slots.js';

export type CacheSource = 'HIT' | 'MISS' | 'BYPASS' | 'STALE';

export interface ReadResult {
  profile: CachedProfile | null;
  source: CacheSource;
}

export interface ManyResult {
  profiles: Map<string, CachedProfile | null>;
  source: CacheSource;
}

/** Where profiles come from on a miss: one query for any number of ids. */
export interface ProfileSource {
  findMany(ids: string[]): Promise<PublicProfile[]>;
}

export interface ProfileCacheOptions {
  redis: RedisClient;
  keys: CacheKeys;
  source: ProfileSource;
  breaker: CircuitBreaker;
  bulkhead: Bulkhead;
  metrics: CacheMetrics;
  local?: LocalTier | undefined;
  log: Logger;
  ttlMs: number;
  jitterRatio: number;
  /** How long past its soft expiry an entry may still be served while it is refreshed. */
  staleMs: number;
  negativeTtlMs: number;
  leaseMs: number;
  /** How long a miss waits for another replica's fill before reading Postgres itself. */
  leaseWaitMs: number;
  leasePollMs: number;
  /** Test hook: runs after each database read, before the result is cached. */
  afterDbRead?: ((ids: string[]) => Promise<void>) | undefined;
}

const isFresh = (entry: CacheEntry | null, now: number): boolean =>
  entry !== null && entry.kind !== 'floor' && entry.softExpiresAt > now;

const profileOf = (id: string, entry: CacheEntry): CachedProfile | null =>
  entry.kind === 'profile' ? { id, version: entry.version, json: entry.json } : null;

/** A soft-expired entry that may be served while someone else refreshes it (a floor may not). */
const staleOf = (id: string, entry: CacheEntry | null): ReadResult | undefined =>
  entry && entry.kind !== 'floor' ? { profile: profileOf(id, entry), source: 'STALE' } : undefined;

// A batch answers with the least cached of its ids' sources.
const SOURCE_RANK: Record<CacheSource, number> = { HIT: 0, STALE: 1, MISS: 2, BYPASS: 3 };

/** An id that was not fresh in Redis, with the entry read (null: none or unreadable). */
interface Miss {
  id: string;
  entry: CacheEntry | null;
}

export class ProfileCache {
  private readonly flights = new SingleFlight<ReadResult>();
  private readonly repairs = new Set<NodeJS.Timeout>();
  /**
   * Ids whose update is committed but not yet in Redis (the write failed and is being retried),
   * with the newest such version. Their cached entry may be older, so until the retry lands they
   * are read from Postgres: a Redis that comes back (a restart, a replica promoted after a
   * failover) must not serve what an update that answered 200 replaced.
   */
  private readonly unrepaired = new Map<string, number>();
  private closed = false;
  private readonly gets: Batcher<string, string | null>;
  private readonly reads: Batcher<string, PublicProfile | null>;
  private readonly mget: MultiGet;

  constructor(private readonly o: ProfileCacheOptions) {
    this.mget = multiGet(o.redis);
    this.gets = new Batcher(this.mget, {
      key: (k) => k,
      onBatch: (keys) => {
        o.metrics.getBatches.inc();
        o.metrics.getBatchKeys.inc(keys);
      },
    });
    // The misses of one turn, whichever requests they come from, are one query.
    this.reads = new Batcher(
      async (ids) => {
        const rows = new Map((await this.readDb(ids)).map((p) => [p.id, p]));
        return ids.map((id) => rows.get(id) ?? null);
      },
      { key: (id) => id },
    );
  }

  /** The in-process tier's answer (a HIT), synchronously; undefined: not there, ask `load`. */
  peek(id: string): CachedProfile | undefined {
    const local = this.o.local?.get(id);
    if (local) this.o.metrics.localHit();
    return local;
  }

  /**
   * One profile past the in-process tier (the caller has peeked): null for no such id, and where
   * the answer came from. Concurrent loads of one id share one resolution.
   */
  async load(id: string): Promise<ReadResult> {
    const result = await this.flights.do(id, () => this.resolve(id));
    this.count(result.source);
    if (result.profile && result.source !== 'BYPASS') this.o.local?.set(result.profile);
    return result;
  }

  /**
   * Many profiles, with the stampede protection of `load` for each: an id already being resolved
   * (by a single or a batch read) joins that flight; the others are looked up in one MGET, leased
   * in one round trip, and the ones this replica holds the lease for are read in one query.
   */
  async getMany(ids: string[]): Promise<ManyResult> {
    const profiles = new Map<string, CachedProfile | null>();
    const pending: string[] = [];
    for (const id of ids) {
      const local = this.o.local?.get(id);
      if (local) profiles.set(id, local);
      else pending.push(id);
    }
    if (pending.length === 0) {
      this.o.metrics.localHit();
      return { profiles, source: 'HIT' };
    }
    const results = await Promise.all(
      this.flights.doMany(pending, (fresh) => this.resolveMany(fresh)),
    );
    let source: CacheSource = 'HIT';
    results.forEach((result, i) => {
      profiles.set(pending[i]!, result.profile);
      if (result.profile && result.source !== 'BYPASS') this.o.local?.set(result.profile);
      if (SOURCE_RANK[result.source] > SOURCE_RANK[source]) source = result.source;
    });
    this.count(source);
    return { profiles, source };
  }

  /**
   * Makes the cache right after an update has committed: writes the new version through the
   * compare-and-set script, so that a fill still carrying the old version is refused. Redis down:
   * the write is retried in the background until it lands or the old entry has expired anyway.
   */
  async afterUpdate(updated: PublicProfile): Promise<void> {
    const profile = toCached(updated);
    this.flights.forget(profile.id);
    this.o.local?.invalidate(profile.id, profile.version);
    const deadline = Date.now() + this.o.ttlMs * (1 + this.o.jitterRatio) + this.o.staleMs;
    const settled = () => {
      if ((this.unrepaired.get(profile.id) ?? 0) <= profile.version) {
        this.unrepaired.delete(profile.id);
      }
    };
    const attempt = async (delay: number): Promise<void> => {
      try {
        await this.fill(profile.id, profile, '');
        settled();
        this.o.metrics.repairs.inc({ result: 'ok' });
      } catch (err) {
        const owed = this.unrepaired.get(profile.id) ?? 0;
        if (owed < profile.version) this.unrepaired.set(profile.id, profile.version);
        if (this.closed || Date.now() + delay > deadline) {
          // By now the entry the update replaced has expired, so reads may use Redis again.
          settled();
          this.o.metrics.repairs.inc({ result: 'gave_up' });
          this.o.log.error({ err, id: profile.id }, 'cache not updated after a profile update');
          return;
        }
        this.o.metrics.repairs.inc({ result: 'retry' });
        this.o.log.warn({ err, id: profile.id, delay }, 'cache update failed; retrying');
        const timer = setTimeout(() => {
          this.repairs.delete(timer);
          void attempt(Math.min(delay * 2, 5000));
        }, delay);
        this.repairs.add(timer);
      }
    };
    await attempt(100);
  }

  /** Drops the in-process copy (another replica changed the profile). */
  invalidateLocal(id: string, version: number): void {
    this.flights.forget(id);
    this.o.local?.invalidate(id, version);
  }

  /**
   * A user signed up: replace a negative entry for their id with a floor, so that their profile
   * is read from Postgres next and no slow "not found" read can put the 404 back.
   */
  async clearNegative(id: string): Promise<boolean> {
    const result = await CLEAR_NEGATIVE_SCRIPT.run(
      this.o.redis,
      [this.o.keys.entry(id)],
      [encodeFloor(1), String(this.o.negativeTtlMs + this.o.ttlMs)],
    );
    return result === 1;
  }

  close(): void {
    this.closed = true;
    for (const timer of this.repairs) clearTimeout(timer);
    this.repairs.clear();
  }

  private count(source: CacheSource): void {
    const m = this.o.metrics;
    if (source === 'HIT') m.hits.inc({ tier: 'redis' });
    else if (source === 'MISS') m.misses.inc();
    else if (source === 'BYPASS') m.bypasses.inc();
    else m.staleServes.inc();
  }

  private async resolve(id: string): Promise<ReadResult> {
    if (this.unrepaired.has(id)) return one(await this.bypass([id]), id);
    let raw: string | null;
    try {
      raw = await this.o.breaker.run(() => this.gets.submit(this.o.keys.entry(id)));
    } catch {
      return one(await this.bypass([id]), id);
    }
    const entry = decodeEntry(raw);
    if (entry && isFresh(entry, Date.now()))
      return { profile: profileOf(id, entry), source: 'HIT' };
    return one(await this.resolveMisses([{ id, entry }]), id);
  }

  private async resolveMany(ids: string[]): Promise<Map<string, ReadResult>> {
    if (this.unrepaired.size > 0 && ids.some((id) => this.unrepaired.has(id))) {
      const [owed, rest] = await Promise.all([
        this.bypass(ids.filter((id) => this.unrepaired.has(id))),
        this.resolveMany(ids.filter((id) => !this.unrepaired.has(id))),
      ]);
      return merge(owed, rest);
    }
    if (ids.length === 0) return new Map();
    let raws: Array<string | null>;
    try {
      raws = await this.o.breaker.run(() =>
        Promise.all(ids.map((id) => this.gets.submit(this.o.keys.entry(id)))),
      );
    } catch {
      return this.bypass(ids);
    }
    const now = Date.now();
    const results = new Map<string, ReadResult>();
    const misses: Miss[] = [];
    ids.forEach((id, i) => {
      const entry = decodeEntry(raws[i]);
      if (entry && isFresh(entry, now))
        results.set(id, { profile: profileOf(id, entry), source: 'HIT' });
      else misses.push({ id, entry });
    });
    if (misses.length > 0) {
      for (const [id, result] of await this.resolveMisses(misses)) results.set(id, result);
    }
    return results;
  }

  /**
   * Ids that were not fresh: take their leases; read the leased ones from Postgres (one query)
   * and fill them; serve a soft-expired entry another replica is refreshing; wait for the others'
   * fills, and read what they did not fill in time.
   */
  private async resolveMisses(misses: Miss[]): Promise<Map<string, ReadResult>> {
    const results = new Map<string, ReadResult>();
    let leases: Array<{ token: string | null; raw: string | null }>;
    try {
      leases = await this.tryLeases(misses.map((m) => m.id));
    } catch {
      const bypassed: string[] = [];
      for (const m of misses) {
        const stale = staleOf(m.id, m.entry);
        if (stale) results.set(m.id, stale);
        else bypassed.push(m.id);
      }
      return merge(results, await this.bypass(bypassed));
    }

    const now = Date.now();
    const held: Array<{ id: string; token: string }> = [];
    const waiting: string[] = [];
    misses.forEach(({ id }, i) => {
      const { token, raw } = leases[i]!;
      const entry = decodeEntry(raw);
      if (entry && isFresh(entry, now)) {
        // Filled by another replica since our first look: nothing to read.
        results.set(id, { profile: profileOf(id, entry), source: 'HIT' });
        if (token !== null) this.releaseLease(id, token);
      } else if (token !== null) {
        held.push({ id, token });
      } else {
        // Someone else is refreshing a soft-expired entry: the old value is still the latest
        // commit (updates overwrite entries rather than waiting for them to expire), so serve it.
        const stale = staleOf(id, entry);
        if (stale) results.set(id, stale);
        else waiting.push(id);
      }
    });

    const [filled, waited] = await Promise.all([this.fillFromDb(held), this.waitThenFill(waiting)]);
    return merge(merge(results, filled), waited);
  }

  /**
   * Takes each id's lease and reads its entry in the same step (one round trip for all: the
   * client pipelines what is issued in one turn, these and other requests' commands alike).
   */
  private async tryLeases(
    ids: string[],
  ): Promise<Array<{ token: string | null; raw: string | null }>> {
    const tokens = ids.map(() => randomUUID());
    const replies = await this.o.breaker.run(() =>
      Promise.all(
        ids.map(
          (id, i) =>
            LEASE_SCRIPT.run(
              this.o.redis,
              [this.o.keys.entry(id), this.o.keys.lease(id)],
              [tokens[i]!, String(this.o.leaseMs)],
            ) as Promise<[number, string | null]>,
        ),
      ),
    );
    return replies.map(([got, raw], i) => ({ token: got === 1 ? tokens[i]! : null, raw }));
  }

  private releaseLease(id: string, token: string): void {
    RELEASE_LEASE_SCRIPT.run(this.o.redis, [this.o.keys.lease(id)], [token]).catch((err: unknown) =>
      this.o.log.warn({ err, id }, 'lease not released; it expires'),
    );
  }

  private async waitThenFill(ids: string[]): Promise<Map<string, ReadResult>> {
    if (ids.length === 0) return new Map();
    this.o.metrics.leaseWaits.inc(ids.length);
    const { found, failed, open } = await this.waitForFills(ids);
    const results = new Map<string, ReadResult>();
    for (const [id, entry] of found)
      results.set(id, { profile: profileOf(id, entry), source: 'HIT' });
    if (failed) return merge(results, await this.bypass(open));
    return merge(results, await this.fillFromDb(open.map((id) => ({ id, token: '' }))));
  }

  /**
   * Polls until each lease holder's value lands or its lease goes away, or leaseWaitMs passes.
   * `open`: the ids to read ourselves; `failed`: Redis failed, so read them past the cache.
   */
  private async waitForFills(
    ids: string[],
  ): Promise<{ found: Map<string, CacheEntry>; failed: boolean; open: string[] }> {
    const found = new Map<string, CacheEntry>();
    const deadline = Date.now() + this.o.leaseWaitMs;
    let watching = ids;
    const gone: string[] = [];
    while (watching.length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, this.o.leasePollMs));
      let raws: Array<string | null>;
      try {
        const keys = watching.flatMap((id) => [this.o.keys.entry(id), this.o.keys.lease(id)]);
        raws = await this.o.breaker.run(() => this.mget(keys));
      } catch {
        return { found, failed: true, open: [...gone, ...watching] };
      }
      const now = Date.now();
      const still: string[] = [];
      watching.forEach((id, i) => {
        const entry = decodeEntry(raws[2 * i]);
        if (entry && isFresh(entry, now)) found.set(id, entry);
        else if (raws[2 * i + 1] === null) gone.push(id);
        else still.push(id);
      });
      watching = still;
    }
    return { found, failed: false, open: [...gone, ...watching] };
  }

  /** One query for the ids, then a fill for each (a miss is a negative entry). */
  private async fillFromDb(
    items: Array<{ id: string; token: string }>,
  ): Promise<Map<string, ReadResult>> {
    if (items.length === 0) return new Map();
    const found = await this.readMany(items.map((item) => item.id));
    await Promise.all(
      items.map(async ({ id, token }) => {
        try {
          await this.fill(id, found.get(id) ?? null, token);
        } catch (err) {
          this.o.log.warn({ err, id }, 'cache fill failed');
        }
      }),
    );
    return new Map(items.map(({ id }) => [id, { profile: found.get(id) ?? null, source: 'MISS' }]));
  }

  private async bypass(ids: string[]): Promise<Map<string, ReadResult>> {
    if (ids.length === 0) return new Map();
    const found = await this.readMany(ids);
    return new Map(ids.map((id) => [id, { profile: found.get(id) ?? null, source: 'BYPASS' }]));
  }

  /** The profiles of `ids` found in Postgres, read with the other misses of the same turn. */
  private async readMany(ids: string[]): Promise<Map<string, CachedProfile>> {
    const rows = await Promise.all(ids.map((id) => this.reads.submit(id)));
    const found = new Map<string, CachedProfile>();
    for (const row of rows) if (row) found.set(row.id, toCached(row));
    return found;
  }

  private async readDb(ids: string[]): Promise<PublicProfile[]> {
    try {
      return await this.o.bulkhead.run(async () => {
        this.o.metrics.dbReads.inc();
        const rows = await this.o.source.findMany(ids);
        if (this.o.afterDbRead) await this.o.afterDbRead(ids);
        return rows;
      });
    } catch (err) {
      if (err instanceof Error && err.name === 'BulkheadFullError') {
        this.o.metrics.bulkheadRejections.inc();
      }
      throw err;
    }
  }

  private async fill(id: string, profile: CachedProfile | null, token: string): Promise<void> {
    const now = Date.now();
    let encoded: string;
    let version: number;
    let ttl: number;
    if (profile) {
      const soft = jitter(this.o.ttlMs, this.o.jitterRatio);
      encoded = encodeProfile(profile, now + soft);
      version = profile.version;
      ttl = soft + this.o.staleMs;
    } else {
      ttl = jitter(this.o.negativeTtlMs, this.o.jitterRatio);
      encoded = encodeNegative(now + ttl);
      version = 0;
    }
    const stored = await FILL_SCRIPT.run(
      this.o.redis,
      [this.o.keys.entry(id), this.o.keys.lease(id)],
      [String(version), encoded, String(ttl), token],
    );
    this.o.metrics.fills.inc({ result: stored === 1 ? 'stored' : 'refused' });
  }
}

function merge<K, V>(into: Map<K, V>, from: Map<K, V>): Map<K, V> {
  for (const [k, v] of from) into.set(k, v);
  return into;
}

function one(results: Map<string, ReadResult>, id: string): ReadResult {
  const result = results.get(id);
  if (!result) throw new Error(`no result for ${id}`);
  return result;
}
