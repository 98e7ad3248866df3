// Rate limits as `app.limits`: signups per IP, logins per IP and per email (the latter slows
// password guessing spread over many IPs). Counted by platform's Redis limiter, so every replica
// shares them and a Redis outage lets requests through instead of taking signups down.
import { createHash } from 'node:crypto';
import { rateLimiterPlugin, type RateLimitRule } from '@app/platform';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';

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
    await app.register(rateLimiterPlugin);
    const rule = (name: string, max: number): RateLimitRule => ({
      name,
      max,
      windowMs: options.windowMs,
    });
    const signupIp = rule('signup-ip', options.signupMax);
    const loginIp = rule('login-ip', options.loginIpMax);
    const loginEmail = rule('login-email', options.loginEmailMax);

    app.decorate('limits', {
      signup: (request, reply) => app.rateLimiter.enforce(signupIp, request.ip, reply),
      login: async (request, reply, email) => {
        await app.rateLimiter.enforce(loginIp, request.ip, reply);
        // Hashed so that Redis never holds the email addresses people try to log in with.
        const hashed = createHash('sha256').update(email.toLowerCase()).digest('hex').slice(0, 32);
        await app.rateLimiter.enforce(loginEmail, hashed, reply);
      },
    } satisfies Limits);
  },
  { name: 'limits', fastify: '5.x', dependencies: ['redis'] },
);
