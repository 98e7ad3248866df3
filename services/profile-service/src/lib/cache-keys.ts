// The one place that names profile cache keys. CACHE_SCHEMA_VERSION is the `<N>` of
// `profile:v<N>:<id>`: bump it when the cached shape changes, and every old entry becomes
// unreachable at once (it simply expires by TTL), with no flush.
export const CACHE_SCHEMA_VERSION = 1;

export interface CacheKeys {
  /** `<prefix>profile:v<N>:<id>`: the cached profile (or negative / floor marker). */
  entry(id: string): string;
  /** The short lease one replica holds while it fills `entry(id)`. */
  lease(id: string): string;
  readonly version: number;
}

export function cacheKeys(prefix = '', version: number = CACHE_SCHEMA_VERSION): CacheKeys {
  if (!Number.isInteger(version) || version < 1) {
    throw new RangeError(`cache schema version must be a positive integer, got ${version}`);
  }
  const base = `${prefix}profile:v${version}:`;
  return {
    version,
    entry: (id) => `${base}${id}`,
    lease: (id) => `${base}${id}:lease`,
  };
}
