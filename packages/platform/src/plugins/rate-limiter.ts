// Fixed-window rate limits counted in Redis, as `app.rateLimiter`, so that every replica of a
// service shares one budget per key (an IP, a token's subject, a hashed email). A limiter that
// cannot reach Redis lets the request through: losing the limiter for a while is better than
// losing the service with it. Each service names its rules and keys; this owns the counting and
// the 429 problem (RATE_LIMITED, Retry-After) every service answers with.
import type { FastifyBaseLogger, FastifyInstance, FastifyReply } from 'fastify';
import fp from 'fastify-plugin';
import { httpError } from '../errors.js';
import type { RedisClient } from './redis.js';

export interface RateLimitRule {
  /** Part of the Redis key: `rl:<name>:<key>`. */
  name: string;
  /** Hits allowed per window. */
  max: number;
  windowMs: number;
}

export interface RateLimitVerdict {
  allowed: boolean;
  /** Hits counted in the current window (0 when Redis could not be asked). */
  count: number;
  /** Until the window ends, rounded up; 0 when allowed. */
  retryAfterSeconds: number;
}

export interface RateLimiter {
  /** Counts one hit of `key` and says whether it is within the rule. */
  hit(rule: RateLimitRule, key: string): Promise<RateLimitVerdict>;
  /** Says whether `key` is still within the rule, without counting a hit. */
  peek(rule: RateLimitRule, key: string): Promise<RateLimitVerdict>;
  /** hit(); over the limit, sets Retry-After and throws the 429 problem. */
  enforce(rule: RateLimitRule, key: string, reply: FastifyReply): Promise<void>;
}

declare module 'fastify' {
  interface FastifyInstance {
    rateLimiter: RateLimiter;
  }
}

// INCR and the window's expiry in one step, so that a crash between them cannot leave a counter
// without a TTL (which would lock the key out for good).
const HIT = `
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}`;

const PEEK = `
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
return {n, redis.call('PTTL', KEYS[1])}`;

/** The 429 every service answers when a limit is exceeded. */
export function rateLimited(retryAfterSeconds: number) {
  return httpError(429, 'RATE_LIMITED', 'Too many requests', `Retry in ${retryAfterSeconds} s.`, {
    retryAfterSeconds,
  });
}

function checkRule(rule: RateLimitRule): void {
  if (!/^[a-z0-9-]+$/.test(rule.name)) {
    throw new Error(
      `rate-limit rule name must be lowercase letters, digits and -, got "${rule.name}"`,
    );
  }
  if (!Number.isInteger(rule.max) || rule.max < 1) {
    throw new Error(`rate-limit rule ${rule.name}: max must be an integer >= 1, got ${rule.max}`);
  }
  if (!Number.isInteger(rule.windowMs) || rule.windowMs < 1) {
    throw new Error(
      `rate-limit rule ${rule.name}: windowMs must be an integer >= 1, got ${rule.windowMs}`,
    );
  }
}

export interface RateLimiterOptions {
  /** Before `rl:` in every key, after the client's own keyPrefix (e.g. a test's namespace). */
  prefix?: string;
  log?: FastifyBaseLogger;
}

/** A limiter over an ioredis client (its keyPrefix applies); errors fail open. */
export function createRateLimiter(
  redis: RedisClient,
  options: RateLimiterOptions = {},
): RateLimiter {
  const { prefix = '', log } = options;
  let warnedAt = 0;
  const failOpen = (err: unknown): RateLimitVerdict => {
    // One warning per 10 s: during an outage every request would otherwise log one.
    if (Date.now() - warnedAt > 10_000) {
      warnedAt = Date.now();
      log?.warn({ err }, 'rate limiter unavailable; letting requests through');
    }
    return { allowed: true, count: 0, retryAfterSeconds: 0 };
  };
  const verdict = (rule: RateLimitRule, reply: unknown, within: (n: number) => boolean) => {
    const [count, ttl] = reply as [number, number];
    const allowed = within(count);
    const ms = ttl > 0 ? ttl : rule.windowMs;
    return { allowed, count, retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil(ms / 1000)) };
  };

  const limiter: RateLimiter = {
    async hit(rule, key) {
      checkRule(rule);
      try {
        const reply = await redis.eval(HIT, 1, `${prefix}rl:${rule.name}:${key}`, rule.windowMs);
        return verdict(rule, reply, (n) => n <= rule.max);
      } catch (err) {
        return failOpen(err);
      }
    },
    async peek(rule, key) {
      checkRule(rule);
      try {
        const reply = await redis.eval(PEEK, 1, `${prefix}rl:${rule.name}:${key}`);
        return verdict(rule, reply, (n) => n < rule.max);
      } catch (err) {
        return failOpen(err);
      }
    },
    async enforce(rule, key, reply) {
      const result = await limiter.hit(rule, key);
      if (result.allowed) return;
      void reply.header('retry-after', String(result.retryAfterSeconds));
      throw rateLimited(result.retryAfterSeconds);
    },
  };
  return limiter;
}

/** Decorates `app.rateLimiter`; needs the redis plugin (registered with `required: false` is fine). */
export const rateLimiterPlugin = fp<{ prefix?: string }>(
  async (app: FastifyInstance, options) => {
    const log = app.log.child({ plugin: 'rate-limiter' });
    app.decorate('rateLimiter', createRateLimiter(app.redis, { ...options, log }));
  },
  { name: 'rate-limiter', fastify: '5.x', dependencies: ['redis'] },
);
