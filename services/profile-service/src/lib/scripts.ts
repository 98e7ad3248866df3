// Lua scripts that make the cache safe under concurrency. Each runs atomically in Redis, so the
// read-compare-write of a fill cannot interleave with an update's write (the stale-set race).
// They run by SHA (EVALSHA), so a call sends its keys and arguments, not the script's text. Every
// script takes the keys of one profile only (entry and lease, one hash tag), hence of one Cluster
// slot.
import { createHash } from 'node:crypto';
import type { RedisClient } from '@app/platform';

/** A script run with EVALSHA, and with EVAL when Redis does not have it (a restart, a failover). */
export class LuaScript {
  readonly sha: string;

  constructor(readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  async run(redis: RedisClient, keys: string[], args: string[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return redis.eval(this.lua, keys.length, ...keys, ...args);
    }
  }
}
export const FILL_SCRIPT = new LuaScript(`
-- KEYS[1] entry, KEYS[2] lease; ARGV[1] version, ARGV[2] encoded entry, ARGV[3] ttl ms, ARGV[4] lease token
local cur = redis.call('GET', KEYS[1])
local stored = 0
local curVersion = cur and tonumber(string.match(cur, '^(%d+)|')) or nil
if curVersion == nil or curVersion <= tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  stored = 1
end
if ARGV[4] ~= '' and redis.call('GET', KEYS[2]) == ARGV[4] then
  redis.call('DEL', KEYS[2])
end
return stored
`);

// On user.signed_up: replace a negative entry (or nothing) with a floor of version 1, so that a
// read that saw "no such user" before the signup committed cannot put the 404 back.
export const CLEAR_NEGATIVE_SCRIPT = new LuaScript(`
-- KEYS[1] entry; ARGV[1] floor entry, ARGV[2] ttl ms
local cur = redis.call('GET', KEYS[1])
if cur == false or string.sub(cur, 1, 2) == '0|' then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
`);

// Takes a fill lease and reads the entry in one atomic step. A fill that landed (and dropped its
// lease) after this replica's first read is seen here, so winning the lease it left behind does
// not cost a second database read.
export const LEASE_SCRIPT = new LuaScript(`
-- KEYS[1] entry, KEYS[2] lease; ARGV[1] lease token, ARGV[2] lease ms
local got = redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2], 'NX')
return { got and 1 or 0, redis.call('GET', KEYS[1]) }
`);

// Drops a lease only if it is still ours (it may have expired and been taken by another replica).
export const RELEASE_LEASE_SCRIPT = new LuaScript(`
-- KEYS[1] lease; ARGV[1] lease token
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`);
