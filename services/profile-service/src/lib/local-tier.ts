// The optional in-process tier in front of Redis: a small map with a short TTL. It is dropped on
// every replica through a NATS subject when a profile changes; if that message is lost, an entry
// is still never served more than `ttlMs` after it was stored: that is its staleness bound.
// Invalidations leave a version floor for `ttlMs`, so that a read that fetched the old value from
// Redis just before the invalidation cannot store it afterwards. It holds the serialized body
// (CachedProfile), so a local hit costs a Map lookup and nothing else. When full it evicts in
// insertion order: every entry expires `ttlMs` after it was stored, so the oldest one is also the
// one closest to expiry, and a read need not move its entry (what an LRU would pay on every hit).
import type { CachedProfile } from './entry.js';

export interface LocalTierOptions {
  maxEntries: number;
  ttlMs: number;
  now?: () => number;
}

export class LocalTier {
  private readonly entries = new Map<string, { profile: CachedProfile; expiresAt: number }>();
  private readonly floors = new Map<string, { version: number; expiresAt: number }>();
  private readonly now: () => number;

  constructor(private readonly options: LocalTierOptions) {
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  get(id: string): CachedProfile | undefined {
    const hit = this.entries.get(id);
    if (!hit) return undefined;
    if (hit.expiresAt <= this.now()) {
      this.entries.delete(id);
      return undefined;
    }
    return hit.profile;
  }

  set(profile: CachedProfile): boolean {
    const floor = this.floors.get(profile.id);
    if (floor && floor.expiresAt > this.now() && profile.version < floor.version) return false;
    this.entries.delete(profile.id);
    this.entries.set(profile.id, { profile, expiresAt: this.now() + this.options.ttlMs });
    evictOldest(this.entries, this.options.maxEntries);
    return true;
  }

  invalidate(id: string, version: number): void {
    this.entries.delete(id);
    this.floors.delete(id);
    this.floors.set(id, { version, expiresAt: this.now() + this.options.ttlMs });
    evictOldest(this.floors, this.options.maxEntries);
  }
}

function evictOldest<V>(map: Map<string, V>, max: number): void {
  while (map.size > max) {
    const oldest = map.keys().next();
    if (oldest.done) return;
    map.delete(oldest.value);
  }
}
