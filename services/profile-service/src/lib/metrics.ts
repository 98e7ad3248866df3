// The cache's Prometheus metrics, registered on the app's own registry (platform's app.metrics),
// so that several app instances in one test process each count their own.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { BreakerState } from './breaker.js';

export interface CacheMetrics {
  hits: Counter<'tier'>;
  /** One in-process tier hit: a plain increment, added to `hits` when /metrics is scraped. */
  localHit(): void;
  misses: Counter;
  bypasses: Counter;
  staleServes: Counter;
  fills: Counter<'result'>;
  leaseWaits: Counter;
  /** MGETs sent for merged concurrent reads, and the keys they carried (keys / batches = size). */
  getBatches: Counter;
  getBatchKeys: Counter;
  dbReads: Counter;
  bulkheadRejections: Counter;
  repairs: Counter<'result'>;
  breakerState: Gauge;
  setBreakerState(state: BreakerState): void;
}

const BREAKER_VALUES: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 };

export function createCacheMetrics(registry: Registry): CacheMetrics {
  const registers = [registry];
  const breakerState = new Gauge({
    name: 'profile_cache_breaker_state',
    help: 'Redis circuit breaker: 0 closed, 1 half-open, 2 open',
    registers,
  });
  breakerState.set(0);
  // A local hit is the cheapest read there is (a Map lookup); a labelled prom-client increment
  // hashes its labels each time, which cost as much again. So local hits are counted in a number
  // and handed to the counter when it is collected.
  let localHits = 0;
  const hits = new Counter({
    name: 'profile_cache_hits_total',
    help: 'Profile reads answered from a cache tier (local or redis)',
    labelNames: ['tier'] as const,
    registers,
    collect() {
      if (localHits > 0) this.inc({ tier: 'local' }, localHits);
      localHits = 0;
    },
  });
  return {
    hits,
    localHit: () => {
      localHits++;
    },
    misses: new Counter({
      name: 'profile_cache_misses_total',
      help: 'Profile reads that missed and were filled from Postgres',
      registers,
    }),
    bypasses: new Counter({
      name: 'profile_cache_bypasses_total',
      help: 'Profile reads answered from Postgres because Redis was down, slow or circuit-broken',
      registers,
    }),
    staleServes: new Counter({
      name: 'profile_cache_stale_serves_total',
      help: 'Profile reads answered with a soft-expired entry while another replica refreshed it',
      registers,
    }),
    fills: new Counter({
      name: 'profile_cache_fills_total',
      help: 'Cache fills by outcome (stored, or refused because a newer version was cached)',
      labelNames: ['result'] as const,
      registers,
    }),
    leaseWaits: new Counter({
      name: 'profile_cache_lease_waits_total',
      help: 'Misses that waited for another replica holding the fill lease',
      registers,
    }),
    getBatches: new Counter({
      name: 'profile_cache_get_batches_total',
      help: 'MGETs sent for concurrent single-profile reads merged into one command',
      registers,
    }),
    getBatchKeys: new Counter({
      name: 'profile_cache_get_batch_keys_total',
      help: 'Keys carried by those MGETs (divided by the batches: the average batch size)',
      registers,
    }),
    dbReads: new Counter({
      name: 'profile_db_reads_total',
      help: 'Queries that read profiles from Postgres',
      registers,
    }),
    bulkheadRejections: new Counter({
      name: 'profile_bulkhead_rejections_total',
      help: 'Reads refused with 503 because too many database reads were in flight',
      registers,
    }),
    repairs: new Counter({
      name: 'profile_cache_update_repairs_total',
      help: 'Cache writes after an update, by outcome (ok, retry, gave_up)',
      labelNames: ['result'] as const,
      registers,
    }),
    breakerState,
    setBreakerState: (state) => breakerState.set(BREAKER_VALUES[state]),
  };
}
