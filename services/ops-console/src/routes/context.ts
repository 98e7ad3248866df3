// What every page needs from its request: the session, its CSRF token and the path.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { PageContext } from '../views/layout.js';

export function contextOf(app: FastifyInstance, request: FastifyRequest): PageContext {
  const session = request.session;
  return {
    session,
    csrf: session ? app.sessions.csrf(session) : null,
    path: request.url.split('?')[0] ?? '/',
  };
}

/** A browser asks for HTML; a script (curl, fetch) gets problem+json instead of an error page. */
export function wantsHtml(accept: string | undefined): boolean {
  return (accept ?? '').includes('text/html');
}
