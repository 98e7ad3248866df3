// The byte format of a cache entry: `<profileVersion>|<softExpiresAtMs>|<json>`. The row version
// comes first so the compare-and-set Lua script can read it without decoding JSON. Three kinds:
// a profile (version >= 1, json), a negative entry (version 0, empty json: "no such id") and a
// floor (version >= 1, empty json: "a row of at least this version exists"; a reader treats it as
// a miss, and fills older than it are refused).
export interface PublicProfile {
  id: string;
  displayName: string;
  bio: string | null;
  avatarUrl: string | null;
  version: number;
  updatedAt: string;
}

export type CacheEntry =
  | { kind: 'profile'; version: number; softExpiresAt: number; profile: PublicProfile }
  | { kind: 'negative'; version: 0; softExpiresAt: number }
  | { kind: 'floor'; version: number; softExpiresAt: number };

export function encodeProfile(profile: PublicProfile, softExpiresAt: number): string {
  return `${profile.version}|${softExpiresAt}|${JSON.stringify(profile)}`;
}

export function encodeNegative(softExpiresAt: number): string {
  return `0|${softExpiresAt}|`;
}

export function encodeFloor(version: number): string {
  return `${version}|0|`;
}

/** Decodes an entry; anything malformed reads as a miss (null) rather than an error. */
export function decodeEntry(raw: string | null | undefined): CacheEntry | null {
  if (raw === null || raw === undefined) return null;
  const a = raw.indexOf('|');
  const b = a < 0 ? -1 : raw.indexOf('|', a + 1);
  if (b < 0) return null;
  const version = Number(raw.slice(0, a));
  const softExpiresAt = Number(raw.slice(a + 1, b));
  if (!Number.isInteger(version) || version < 0 || !Number.isFinite(softExpiresAt)) return null;
  const json = raw.slice(b + 1);
  if (json === '') {
    return version === 0
      ? { kind: 'negative', version: 0, softExpiresAt }
      : { kind: 'floor', version, softExpiresAt };
  }
  try {
    const profile = JSON.parse(json) as PublicProfile;
    return { kind: 'profile', version, softExpiresAt, profile };
  } catch {
    return null;
  }
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
