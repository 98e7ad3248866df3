// Every route of the console in one scope: the urlencoded form parser the pages post with, and
// the error handler that answers a browser with an HTML page (the same status and code) and
// anything else with problem+json, as every service does. Then the static files, sign-in, the
// pages, redrive and the JSON the pages refresh from.
import type { FastifyError } from 'fastify';
import { sendProblem, toProblem, type App } from '@app/platform';
import { SERVICE_NAME } from '../app.js';
import type { Config } from '../config.js';
import { errorPage } from '../views/layout.js';
import { apiRoutes } from './api.js';
import { authRoutes } from './auth.js';
import { contextOf, wantsHtml } from './context.js';
import { pageRoutes } from './pages.js';
import { redriveRoutes } from './redrive.js';
import { staticRoutes } from './static.js';

/** Form fields that may repeat (checkboxes): always a list. */
const LIST_FIELDS = new Set(['seq']);

/** An urlencoded body: each field a string, a repeated one (other than a list field) a list. */
export function parseForm(text: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [key, value] of new URLSearchParams(text)) {
    const existing = out[key];
    if (LIST_FIELDS.has(key)) out[key] = [...((existing as string[] | undefined) ?? []), value];
    else if (existing === undefined) out[key] = value;
    else out[key] = [...(Array.isArray(existing) ? existing : [existing]), value];
  }
  return out;
}

export async function consoleRoutes(app: App, { config }: { config: Config }): Promise<void> {
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (_request, body, done) => done(null, parseForm(body as string)),
  );

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const problem = toProblem(SERVICE_NAME, error, request);
    if (problem.code === 'INTERNAL') request.log.error({ err: error }, 'request failed');
    else if (problem.status >= 500)
      request.log.warn({ err: error, code: problem.code }, 'unavailable');
    else request.log.info({ code: problem.code, status: problem.status }, 'request rejected');
    const retryAfter = problem.retryAfterSeconds;
    if (typeof retryAfter === 'number' && !reply.hasHeader('retry-after')) {
      void reply.header('retry-after', String(retryAfter));
    }
    if (!wantsHtml(request.headers.accept)) return sendProblem(reply, problem);
    return reply
      .code(problem.status)
      .type('text/html; charset=utf-8')
      .send(
        errorPage(contextOf(app, request), {
          status: problem.status,
          title: problem.title,
          detail: problem.detail,
          code: problem.code,
          jobId: problem.jobId,
        }),
      );
  });

  await app.register(staticRoutes);
  await app.register(authRoutes, { config });
  await app.register(pageRoutes, { config });
  await app.register(redriveRoutes, { config });
  await app.register(apiRoutes, { config });
}
