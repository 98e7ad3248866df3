// The byte format of a cache entry: `<profileVersion>|<softExpiresAtMs>|<json>`. The row version
// comes first so the compare-and-set Lua script can read it without decoding JSON. Three kinds:
// a profile (version >= 1, json), a negative entry (version 0, empty json: "no such id") and a
// floor (version >= 1, empty json: "a row of at least this version exists"; a reader treats it as
// a miss, and fills older than it are refused).
// The json is the response body itself, serialized once when the entry is written: a hit sends
// it as is (no parse, no re-serialization), and the ETag comes from the version in front of it.
export interface PublicProfile {
  id: string;
  displayName: string;
  bio: string | null;
  avatarUrl: string | null;
  version: number;
  updatedAt: string;
}

/** A profile as the cache tiers hold it: the serialized body plus what a reader needs unparsed. */
export interface CachedProfile {
  id: string;
  version: number;
  /** The JSON body of `GET /v1/profiles/:id`: exactly the public fields, in the schema's order. */
  json: string;
}

export type CacheEntry =
  | { kind: 'profile'; version: number; softExpiresAt: number; json: string }
  | { kind: 'negative'; version: 0; softExpiresAt: number }
  | { kind: 'floor'; version: number; softExpiresAt: number };

/**
 * The body the API answers with. Fields are copied one by one so that nothing beyond the public
 * ones can reach a client, and in the order of the `Profile` response schema.
 */
export function serializeProfile(p: PublicProfile): string {
  return JSON.stringify({
    id: p.id,
    displayName: p.displayName,
    bio: p.bio,
    avatarUrl: p.avatarUrl,
    version: p.version,
    updatedAt: p.updatedAt,
  });
}

export function toCached(profile: PublicProfile): CachedProfile {
  return { id: profile.id, version: profile.version, json: serializeProfile(profile) };
}

export function encodeProfile(cached: CachedProfile, softExpiresAt: number): string {
  return `${cached.version}|${softExpiresAt}|${cached.json}`;
}

export function encodeNegative(softExpiresAt: number): string {
  return `0|${softExpiresAt}|`;
}

export function encodeFloor(version: number): string {
  return `${version}|0|`;
}

// What serializeProfile writes starts with this; a cheap guard against a truncated or foreign
// value (a full JSON.parse per hit is what the stored body exists to avoid).
const BODY_START = '{"id":"';

/** Decodes an entry; anything malformed reads as a miss (null) rather than an error. */
export function decodeEntry(raw: string | null | undefined): CacheEntry | null {
  if (raw === null || raw === undefined) return null;
  const a = raw.indexOf('|');
  const b = a < 0 ? -1 : raw.indexOf('|', a + 1);
  if (b < 0) return null;
  const version = Number(raw.slice(0, a));
  const softExpiresAt = Number(raw.slice(a + 1, b));
  if (!Number.isInteger(version) || version < 0 || !Number.isFinite(softExpiresAt)) return null;
  if (b === raw.length - 1) {
    return version === 0
      ? { kind: 'negative', version: 0, softExpiresAt }
      : { kind: 'floor', version, softExpiresAt };
  }
  if (version === 0 || !raw.startsWith(BODY_START, b + 1) || !raw.endsWith('}')) return null;
  return { kind: 'profile', version, softExpiresAt, json: raw.slice(b + 1) };
}

/** A TTL with +/- `jitterRatio` spread, so that keys written together do not expire together. */
export function jitter(
  ms: number,
  jitterRatio: number,
  random: () => number = Math.random,
): number {
  const spread = ms * jitterRatio;
  return Math.max(1, Math.round(ms - spread + random() * 2 * spread));
}
