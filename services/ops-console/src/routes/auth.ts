// Sign-in and sign-out. A sign-in presents the operator or the viewer token; a wrong one counts
// against the client IP, and once OPS_SIGNIN_FAILURES_MAX are spent in the window that IP is
// refused (429, even with the right token) until the window ends, so guessing a token is refused
// long before it could succeed. Sign-in forms must come from this console's origin (no login
// CSRF); sign-out is a form with the session's CSRF token, and revokes the session.
import { rateLimited, type App, type RateLimitRule } from '@app/platform';
import type { Config } from '../config.js';
import { errors } from '../errors.js';
import { roleForToken } from '../lib/session.js';
import { changeAuth, checkOrigin } from '../plugins/session.js';
import {
  CsrfBody,
  SignInBody,
  SignInQuery,
  changeAnswers,
  htmlResponse,
  problem,
  redirectResponse,
  serverAnswers,
} from '../schemas/console.js';
import { platformProblems, RETRY_AFTER } from '@app/contracts';
import { signInPage } from '../views/signin.js';
import { contextOf, wantsHtml } from './context.js';

/** Only a path of this site: never `//host` or an absolute URL (no open redirect). */
export function safeNext(next: string | undefined): string {
  if (!next || !next.startsWith('/') || next.startsWith('//') || /[\\\s]/.test(next)) return '/';
  return next.startsWith('/signin') ? '/' : next;
}

export async function authRoutes(app: App, { config }: { config: Config }): Promise<void> {
  const failures: RateLimitRule = {
    name: 'signin-fail',
    max: config.OPS_SIGNIN_FAILURES_MAX,
    windowMs: config.OPS_RATE_WINDOW_MS,
  };
  const viewerEnabled = config.OPS_VIEWER_TOKEN !== undefined;

  app.get(
    '/signin',
    {
      schema: {
        summary: 'The sign-in page (signed in already: to the overview)',
        operationId: 'getSignIn',
        tags: ['console-pages'],
        security: [],
        querystring: SignInQuery,
        response: {
          200: htmlResponse('The sign-in form'),
          303: redirectResponse('Signed in already: to the overview'),
          400: problem(platformProblems('VALIDATION_FAILED')),
          ...serverAnswers(),
        },
      },
    },
    async (request, reply) => {
      if (request.session) return reply.redirect(safeNext(request.query.next), 303);
      return reply.type('text/html; charset=utf-8').send(
        signInPage(contextOf(app, request), {
          next: safeNext(request.query.next),
          viewerEnabled,
        }),
      );
    },
  );

  app.post(
    '/signin',
    {
      schema: {
        summary: 'Sign in with the operator or the viewer token: a session cookie, then onwards',
        operationId: 'signIn',
        tags: ['console-pages'],
        security: [],
        body: SignInBody,
        response: {
          303: redirectResponse('Signed in: the session cookie is set; to `next` or the overview'),
          400: problem(platformProblems('VALIDATION_FAILED', 'INVALID_CONTENT_LENGTH')),
          401: problem({
            INVALID_TOKEN:
              'not the operator or the viewer token (a browser gets the form again, saying so)',
          }),
          403: problem({ ORIGIN_MISMATCH: 'the form was not posted from a page of this console' }),
          413: problem(platformProblems('PAYLOAD_TOO_LARGE')),
          415: problem(platformProblems('UNSUPPORTED_MEDIA_TYPE')),
          429: problem(
            { RATE_LIMITED: 'too many failed sign-ins from this IP: retry after `Retry-After`' },
            { 'retry-after': RETRY_AFTER },
          ),
          ...serverAnswers(),
        },
      },
    },
    async (request, reply) => {
      checkOrigin(app, request);
      const lockout = await app.rateLimiter.peek(failures, request.ip);
      if (!lockout.allowed) {
        void reply.header('retry-after', String(lockout.retryAfterSeconds));
        throw rateLimited(lockout.retryAfterSeconds);
      }
      const { token, next } = request.body;
      const name = (request.body.name ?? '').trim();
      const role = roleForToken(token, {
        operator: config.OPS_OPERATOR_TOKEN,
        viewer: config.OPS_VIEWER_TOKEN,
      });
      if (!role) {
        await app.rateLimiter.hit(failures, request.ip);
        request.log.info({ ip: request.ip }, 'sign-in refused: not a valid token');
        if (!wantsHtml(request.headers.accept)) throw errors.invalidToken();
        return reply
          .code(401)
          .type('text/html; charset=utf-8')
          .send(
            signInPage(contextOf(app, request), {
              next: safeNext(next),
              name,
              error: 'That token is not valid. Check it and try again.',
              viewerEnabled,
            }),
          );
      }
      const session = app.sessions.issue(request, reply, role, name || role);
      request.log.info({ role, name: session.name }, 'signed in');
      return reply.redirect(safeNext(next), 303);
    },
  );

  app.post(
    '/signout',
    {
      preValidation: changeAuth(app, { operator: false }),
      schema: {
        summary: 'Sign out: the session is revoked and its cookie cleared',
        operationId: 'signOut',
        tags: ['console-pages'],
        security: [{ consoleSession: [] }],
        body: CsrfBody,
        response: changeAnswers({ 303: redirectResponse('Signed out: to the sign-in page') }),
      },
    },
    async (request, reply) => {
      await app.sessions.end(request, reply);
      return reply.redirect('/signin', 303);
    },
  );
}
