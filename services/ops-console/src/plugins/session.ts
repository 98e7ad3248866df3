// Sign-in sessions as `app.sessions` and `request.session`: the signed cookie of lib/session.ts
// read on every request (a forged, expired or revoked one is no session), issued at sign-in and
// cleared at sign-out, which also records the session id as revoked in Redis until it would have
// expired. Redis down: revocations cannot be read, and a signed-out cookie that someone copied
// stays valid until its expiry (the same as without revocation); signing in still works.
// The guards routes use: `pageAuth` (no session: to the sign-in page), `apiAuth` (401), and
// `changeAuth` for every change: same origin, a session, its CSRF token, then the operator role.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../config.js';
import { errors } from '../errors.js';
import { wantsHtml } from '../routes/context.js';
import {
  checkCsrf,
  csrfToken,
  newSession,
  openSession,
  parseCookies,
  sealSession,
  serializeCookie,
  type Role,
  type Session,
} from '../lib/session.js';

export const SESSION_COOKIE = 'ops_session';

export interface Sessions {
  /** Starts a session: sets its cookie on `reply`. */
  issue(request: FastifyRequest, reply: FastifyReply, role: Role, name: string): Session;
  /** Ends the request's session: revokes it and clears the cookie. */
  end(request: FastifyRequest, reply: FastifyReply): Promise<void>;
  csrf(session: Session): string;
  /** Whether `presented` is the CSRF token of `session`. */
  checkCsrf(session: Session, presented: unknown): boolean;
  /** The origin forms must come from (OPS_PUBLIC_URL's, or this request's own). */
  origin(request: FastifyRequest): string;
}

declare module 'fastify' {
  interface FastifyInstance {
    sessions: Sessions;
  }
  interface FastifyRequest {
    session: Session | null;
  }
}

const revokedKey = (sid: string) => `revoked:${sid}`;

export const sessionPlugin = fp<{ config: Config }>(
  async (app: FastifyInstance, { config }) => {
    const secret = config.OPS_SESSION_SECRET;
    const log = app.log.child({ plugin: 'session' });
    const publicOrigin = config.OPS_PUBLIC_URL ? new URL(config.OPS_PUBLIC_URL).origin : undefined;
    const secure = (request: FastifyRequest) =>
      config.OPS_COOKIE_SECURE ||
      request.protocol === 'https' ||
      publicOrigin?.startsWith('https:') === true;

    const isRevoked = async (sid: string): Promise<boolean> => {
      try {
        return (await app.redis.exists(revokedKey(sid))) === 1;
      } catch (err) {
        log.warn({ err }, 'session revocations unavailable (Redis); accepting signed sessions');
        return false;
      }
    };

    app.decorateRequest('session', null);
    app.addHook('onRequest', async (request) => {
      const value = parseCookies(request.headers.cookie).get(SESSION_COOKIE);
      if (!value) return;
      const session = openSession(value, secret);
      if (session && !(await isRevoked(session.sid))) request.session = session;
    });

    app.decorate('sessions', {
      issue(request, reply, role, name) {
        const session = newSession(role, name, config.OPS_SESSION_TTL_SECONDS);
        void reply.header(
          'set-cookie',
          serializeCookie(SESSION_COOKIE, sealSession(session, secret), {
            maxAgeSeconds: config.OPS_SESSION_TTL_SECONDS,
            secure: secure(request),
          }),
        );
        return session;
      },
      async end(request, reply) {
        const session = request.session;
        if (session) {
          const ttl = session.exp - Math.floor(Date.now() / 1000);
          if (ttl > 0) {
            await app.redis.set(revokedKey(session.sid), '1', 'EX', ttl).catch((err: unknown) => {
              log.warn({ err }, 'could not record a revoked session (Redis)');
            });
          }
        }
        void reply.header(
          'set-cookie',
          serializeCookie(SESSION_COOKIE, '', { maxAgeSeconds: 0, secure: secure(request) }),
        );
      },
      csrf: (session) => csrfToken(session, secret),
      checkCsrf: (session, presented) => checkCsrf(session, secret, presented),
      origin: (request) => {
        if (publicOrigin) return publicOrigin;
        try {
          return new URL(`${request.protocol}://${request.host}`).origin;
        } catch {
          return 'null';
        }
      },
    } satisfies Sessions);
  },
  { name: 'sessions', fastify: '5.x', dependencies: ['redis'] },
);

/**
 * Where a page request without a session goes: a browser to the sign-in page, then back; a script
 * (no `text/html` in Accept) gets 401 UNAUTHORIZED, as on the JSON routes.
 */
export async function pageAuth(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (request.session) return;
  if (!wantsHtml(request.headers.accept)) throw errors.unauthorized();
  const next = request.url.startsWith('/') && !request.url.startsWith('//') ? request.url : '/';
  await reply.redirect(`/signin?next=${encodeURIComponent(next)}`, 303);
}

export async function apiAuth(request: FastifyRequest): Promise<void> {
  if (!request.session) throw errors.unauthorized();
}

/** Same origin as the console: the Origin header, or the Referer's origin when a browser sent none. */
export function checkOrigin(app: FastifyInstance, request: FastifyRequest): void {
  const expected = app.sessions.origin(request);
  const origin = request.headers.origin;
  if (origin !== undefined) {
    if (origin !== expected) throw errors.originMismatch();
    return;
  }
  const referer = request.headers.referer;
  let refererOrigin: string | undefined;
  try {
    refererOrigin = referer ? new URL(referer).origin : undefined;
  } catch {
    refererOrigin = undefined;
  }
  if (refererOrigin !== expected) throw errors.originMismatch();
}

/** The checks of a form that changes something; `operator: false` lets a viewer (sign-out). */
export function changeAuth(app: FastifyInstance, options: { operator: boolean }) {
  return async (request: FastifyRequest): Promise<void> => {
    checkOrigin(app, request);
    const session = request.session;
    if (!session) throw errors.unauthorized();
    const body = request.body as { _csrf?: unknown } | undefined;
    if (!app.sessions.checkCsrf(session, body?._csrf)) throw errors.csrfFailed();
    if (options.operator && session.role !== 'operator') throw errors.operatorOnly();
  };
}
