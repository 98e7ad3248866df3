// Cache-aside for profiles over Redis, with the rules of DESIGN.md "Cache rules": versioned keys,
// TTL with jitter on every key, fills through a compare-and-set script that refuses a version
// older than the cached one (so a read that saw the database before an update can never put the
// old value back), single-flight in process plus a short Redis lease across replicas, negative
// entries for unknown ids, soft expiry with stale serving while one replica refreshes, and a
// circuit breaker + bulkhead so that a sick Redis costs Postgres a bounded number of reads.
// Lookups of reads that arrive together go to Redis as one MGET (get-batcher.ts).
import type { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import type { Bulkhead } from './bulkhead.js';
import type { CircuitBreaker } from './breaker.js';
import type { CacheKeys } from './cache-keys.js';
import { GetBatcher } from './get-batcher.js';
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
import { CLEAR_NEGATIVE_SCRIPT, FILL_SCRIPT } from './scripts.js';
import { SingleFlight } from './single-flight.js';

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

interface Logger {
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface ProfileCacheOptions {
  redis: Redis;
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

export class ProfileCache {
  private readonly flights = new SingleFlight<ReadResult>();
  private readonly repairs = new Set<NodeJS.Timeout>();
  private closed = false;
  private readonly gets: GetBatcher;

  constructor(private readonly o: ProfileCacheOptions) {
    this.gets = new GetBatcher((keys) => o.redis.mget(keys), {
      onBatch: (keys) => {
        o.metrics.getBatches.inc();
        o.metrics.getBatchKeys.inc(keys);
      },
    });
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

  /** Many profiles: one MGET, then one database query for every id Redis did not have. */
  async getMany(ids: string[]): Promise<ManyResult> {
    const profiles = new Map<string, CachedProfile | null>();
    let pending: string[] = [];
    for (const id of ids) {
      const local = this.o.local?.get(id);
      if (local) profiles.set(id, local);
      else pending.push(id);
    }
    if (pending.length === 0) {
      this.o.metrics.localHit();
      return { profiles, source: 'HIT' };
    }

    let raws: Array<string | null>;
    try {
      raws = await this.o.breaker.run(() =>
        this.o.redis.mget(pending.map((id) => this.o.keys.entry(id))),
      );
    } catch {
      for (const p of await this.readDb(pending)) profiles.set(p.id, toCached(p));
      for (const id of pending) if (!profiles.has(id)) profiles.set(id, null);
      this.count('BYPASS');
      return { profiles, source: 'BYPASS' };
    }

    const now = Date.now();
    const misses: string[] = [];
    pending.forEach((id, i) => {
      const entry = decodeEntry(raws[i]);
      if (entry && isFresh(entry, now)) profiles.set(id, profileOf(id, entry));
      else misses.push(id);
    });
    pending = misses;
    if (pending.length === 0) {
      this.count('HIT');
      return { profiles, source: 'HIT' };
    }
    const rows = await this.readDb(pending);
    const found = new Map(rows.map((p) => [p.id, toCached(p)]));
    await Promise.all(
      pending.map((id) => this.fill(id, found.get(id) ?? null, '').catch(() => undefined)),
    );
    for (const id of pending) profiles.set(id, found.get(id) ?? null);
    this.count('MISS');
    for (const p of found.values()) this.o.local?.set(p);
    return { profiles, source: 'MISS' };
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
    const attempt = async (delay: number): Promise<void> => {
      try {
        await this.fill(profile.id, profile, '');
        this.o.metrics.repairs.inc({ result: 'ok' });
      } catch (err) {
        if (this.closed || Date.now() + delay > deadline) {
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
    const result = await this.o.redis.eval(
      CLEAR_NEGATIVE_SCRIPT,
      1,
      this.o.keys.entry(id),
      encodeFloor(1),
      String(this.o.negativeTtlMs + this.o.ttlMs),
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
    const key = this.o.keys.entry(id);
    let entry: CacheEntry | null;
    try {
      entry = decodeEntry(await this.o.breaker.run(() => this.gets.get(key)));
    } catch {
      return this.bypass(id);
    }
    const now = Date.now();
    if (entry && isFresh(entry, now)) return { profile: profileOf(id, entry), source: 'HIT' };

    let token: string | null;
    try {
      token = await this.tryLease(id);
    } catch {
      return entry && entry.kind !== 'floor'
        ? { profile: profileOf(id, entry), source: 'STALE' }
        : this.bypass(id);
    }
    if (token !== null) return this.fillFromDb(id, token);
    // Someone else is refreshing a soft-expired entry: the old value is still the latest commit
    // (updates overwrite entries rather than waiting for them to expire), so serve it.
    if (entry && entry.kind !== 'floor') return { profile: profileOf(id, entry), source: 'STALE' };

    this.o.metrics.leaseWaits.inc();
    const waited = await this.waitForFill(id);
    if (waited === 'error') return this.bypass(id);
    if (waited) return { profile: profileOf(id, waited), source: 'HIT' };
    return this.fillFromDb(id, '');
  }

  private async tryLease(id: string): Promise<string | null> {
    const token = randomUUID();
    const ok = await this.o.breaker.run(() =>
      this.o.redis.set(this.o.keys.lease(id), token, 'PX', this.o.leaseMs, 'NX'),
    );
    return ok === 'OK' ? token : null;
  }

  /** Polls until the lease holder's value lands, the lease goes away, or leaseWaitMs passes. */
  private async waitForFill(id: string): Promise<CacheEntry | null | 'error'> {
    const deadline = Date.now() + this.o.leaseWaitMs;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, this.o.leasePollMs));
      let raws: Array<string | null>;
      try {
        raws = await this.o.breaker.run(() =>
          this.o.redis.mget(this.o.keys.entry(id), this.o.keys.lease(id)),
        );
      } catch {
        return 'error';
      }
      const entry = decodeEntry(raws[0]);
      if (isFresh(entry, Date.now())) return entry;
      if (raws[1] === null) return null;
    }
    return null;
  }

  private async fillFromDb(id: string, token: string): Promise<ReadResult> {
    const [row] = await this.readDb([id]);
    const profile = row ? toCached(row) : null;
    try {
      await this.fill(id, profile, token);
    } catch (err) {
      this.o.log.warn({ err, id }, 'cache fill failed');
    }
    return { profile, source: 'MISS' };
  }

  private async bypass(id: string): Promise<ReadResult> {
    const [row] = await this.readDb([id]);
    return { profile: row ? toCached(row) : null, source: 'BYPASS' };
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
    const stored = await this.o.redis.eval(
      FILL_SCRIPT,
      2,
      this.o.keys.entry(id),
      this.o.keys.lease(id),
      String(version),
      encoded,
      String(ttl),
      token,
    );
    this.o.metrics.fills.inc({ result: stored === 1 ? 'stored' : 'refused' });
  }
}
