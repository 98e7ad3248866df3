// Rate limits as `app.limits`, counted in Redis so that every replica shares them: signups per IP,
// logins per IP and per email (the latter slows password guessing spread over many IPs). Redis down
// lets requests through: an unavailable limiter must not take signups down with it.
import { createHash } from 'node:crypto';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { rateLimited } from '../errors.js';

export interface RateLimitsPluginOptions {
  windowMs: number;
  signupMax: number;
  loginIpMax: number;
  loginEmailMax: number;
}

export interface Limits {
  /** Throws a 429 problem (with Retry-After set) when the limit is exceeded. */
  signup(request: FastifyRequest, reply: FastifyReply): Promise<void>;
  login(request: FastifyRequest, reply: FastifyReply, email: string): Promise<void>;
}

declare module 'fastify' {
  interface FastifyInstance {
    limits: Limits;
  }
}

export const rateLimitsPlugin = fp<RateLimitsPluginOptions>(
  async (app: FastifyInstance, options) => {
    // Keys live under the redis plugin's key prefix; `rl:` separates them from anything else.
    await app.register(rateLimit, {
      global: false,
      redis: app.redis,
      nameSpace: 'rl:',
      skipOnError: true,
    });
    const limiter = (name: string, max: number, key: (request: FastifyRequest) => string) =>
      app.createRateLimit({
        max,
        timeWindow: options.windowMs,
        keyGenerator: (r) => `${name}:${key(r)}`,
        skipOnError: true,
      });

    const signupIp = limiter('signup-ip', options.signupMax, (r) => r.ip);
    const loginIp = limiter('login-ip', options.loginIpMax, (r) => r.ip);
    const emailKeys = new WeakMap<FastifyRequest, string>();
    // Hashed so that Redis never holds the email addresses people try to log in with.
    const loginEmail = limiter('login-email', options.loginEmailMax, (r) => emailKeys.get(r) ?? '');

    const check = async (result: Awaited<ReturnType<typeof signupIp>>, reply: FastifyReply) => {
      if (result.isAllowed || !result.isExceeded) return;
      const seconds = Math.max(1, result.ttlInSeconds);
      void reply.header('retry-after', String(seconds));
      throw rateLimited(seconds);
    };

    app.decorate('limits', {
      signup: async (request, reply) => check(await signupIp(request), reply),
      login: async (request, reply, email) => {
        await check(await loginIp(request), reply);
        emailKeys.set(
          request,
          createHash('sha256').update(email.toLowerCase()).digest('hex').slice(0, 32),
        );
        await check(await loginEmail(request), reply);
      },
    } satisfies Limits);
  },
  { name: 'limits', fastify: '5.x', dependencies: ['redis'] },
);
