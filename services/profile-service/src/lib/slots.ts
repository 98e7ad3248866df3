// MGET over a Redis Cluster: one MGET may only name keys of one hash slot, so the keys of a batch
// are grouped by slot, read with one MGET per slot (concurrently; the client pipelines the ones
// for one node), and the replies put back in the order the keys were given. One node (or a
// Sentinel master) keeps a single MGET, with nothing added to that path.
import type { RedisClient } from '@app/platform';
import calculateSlot from 'cluster-key-slot';
import { Cluster } from 'ioredis';

export type MultiGet = (keys: string[]) => Promise<Array<string | null>>;

/** The keys' positions grouped by hash slot (of the key as sent, with the client's keyPrefix). */
export function groupBySlot(keys: string[], keyPrefix = ''): Map<number, number[]> {
  const groups = new Map<number, number[]>();
  keys.forEach((key, i) => {
    const slot = calculateSlot(keyPrefix + key);
    const group = groups.get(slot);
    if (group) group.push(i);
    else groups.set(slot, [i]);
  });
  return groups;
}

/** An MGET for `redis`: split per slot and merged in order on a Cluster, one MGET otherwise. */
export function multiGet(redis: RedisClient): MultiGet {
  if (!(redis instanceof Cluster)) return (keys) => redis.mget(keys);
  const keyPrefix = redis.options.keyPrefix ?? '';
  return async (keys) => {
    const groups = groupBySlot(keys, keyPrefix);
    if (groups.size <= 1) return redis.mget(keys);
    const values = new Array<string | null>(keys.length).fill(null);
    await Promise.all(
      [...groups.values()].map(async (positions) => {
        const replies = await redis.mget(positions.map((i) => keys[i]!));
        positions.forEach((i, j) => (values[i] = replies[j] ?? null));
      }),
    );
    return values;
  };
}
