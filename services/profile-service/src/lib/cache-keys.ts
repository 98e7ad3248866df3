// The one place that names profile cache keys. CACHE_SCHEMA_VERSION is the `<N>` of
// `profile:v<N>:{<id>}`: bump it when the cached shape changes, and every old entry becomes
// unreachable at once (it simply expires by TTL), with no flush. The braces are a Redis Cluster
// hash tag: a profile's entry (or its negative / floor marker) and its lease share one slot, so
// every script, which reads and writes both, runs on one node.
export const CACHE_SCHEMA_VERSION = 1;

export interface CacheKeys {
  /** `<prefix>profile:v<N>:{<id>}`: the cached profile (or negative / floor marker). */
  entry(id: string): string;
  /** `<prefix>profile:v<N>:{<id>}:lease`: held by the one replica that fills `entry(id)`. */
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
    entry: (id) => `${base}{${id}}`,
    lease: (id) => `${base}{${id}}:lease`,
  };
}
