// Admin routes over the dead-letter stream: list with filters, a dry run (answered at once), and a
// redrive, started as a background job (202 + Location of its status route, routes/admin/redrives.ts).
// All admin routes are protected by a bearer ADMIN_TOKEN compared in constant time, and rate-limited
// per client IP, with a tighter budget for wrong tokens so that guessing the token is refused (429)
// long before it could succeed. Handlers call lib/redrive.ts and lib/redrive-jobs.ts.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Static } from '@sinclair/typebox';
import { rateLimited, type App, type RateLimitRule } from '@app/platform';
import { errors } from '../../errors.js';
import {
  checkFilter,
  dryRunRedrive,
  isStreamNotFound,
  listDeadLetters,
  type DeadLetterFilter,
} from '../../lib/redrive.js';
import { RedriveInProgressError, jobView } from '../../lib/redrive-jobs.js';
import {
  ADMIN_SECURITY,
  Filter,
  ListQuery,
  ListResponses,
  RedriveBody,
  RedriveResponses,
} from '../../schemas/admin.js';
import { redriveJobRoutes } from './redrives.js';

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

export interface AdminRouteOptions {
  adminToken: string | undefined;
  defaultRate: number;
  limits: {
    /** Every admin request, per client IP. */
    perIp: RateLimitRule;
    /** Wrong tokens per client IP; once spent, even the right token waits for the window. */
    failures: RateLimitRule;
  };
}

export async function deadletterRoutes(app: App, options: AdminRouteOptions): Promise<void> {
  // Hashing both sides first gives equal-length buffers, so the comparison time reveals nothing.
  const expected = options.adminToken ? digest(options.adminToken) : undefined;
  const { perIp, failures } = options.limits;
  app.addHook('onRequest', async (request, reply) => {
    if (!expected) throw errors.adminDisabled();
    await app.rateLimiter.enforce(perIp, request.ip, reply);
    const lockout = await app.rateLimiter.peek(failures, request.ip);
    if (!lockout.allowed) {
      void reply.header('retry-after', String(lockout.retryAfterSeconds));
      throw rateLimited(lockout.retryAfterSeconds);
    }
    const header = request.headers.authorization ?? '';
    const match = /^Bearer (.+)$/i.exec(header);
    if (!match?.[1]) throw errors.unauthorized();
    if (!timingSafeEqual(digest(match[1]), expected)) {
      // Only a presented, wrong token counts: a probe without one is not guessing.
      await app.rateLimiter.hit(failures, request.ip);
      throw errors.unauthorized();
    }
  });

  const toFilter = (f: Static<typeof Filter> | Static<typeof ListQuery>): DeadLetterFilter => {
    const problems = checkFilter(f);
    if (problems.length) throw errors.invalidFilter(problems);
    return f;
  };

  const deadletterStream = () => app.notifier.names.streams.deadletter;
  const notProvisioned = (err: unknown): never => {
    if (isStreamNotFound(err)) throw errors.streamNotProvisioned(deadletterStream());
    throw err;
  };

  app.get(
    '/admin/deadletters',
    {
      schema: {
        summary: 'List dead letters, filtered by original subject, reason and time range',
        operationId: 'listDeadLetters',
        tags: ['dead-letters'],
        security: ADMIN_SECURITY,
        querystring: ListQuery,
        response: ListResponses,
      },
    },
    async (request) => {
      const items = await listDeadLetters(
        app.notifier.redriveDeps(),
        toFilter(request.query),
      ).catch(notProvisioned);
      return { count: items.length, items };
    },
  );

  app.post(
    '/admin/deadletters/redrive',
    {
      schema: {
        summary:
          'Dry run (default): what would move, at once. Otherwise start a redrive job: 202 and its Location',
        operationId: 'redriveDeadLetters',
        tags: ['dead-letters'],
        security: ADMIN_SECURITY,
        body: RedriveBody,
        response: RedriveResponses,
      },
    },
    async (request, reply) => {
      const { filter, dryRun, rate, actor } = request.body;
      const by = `http:${actor ?? 'admin'}`;
      if (dryRun) {
        const result = await dryRunRedrive(app.notifier.redriveDeps(), {
          filter: toFilter(filter),
          actor: by,
        }).catch(notProvisioned);
        request.log.info({ batchId: result.batchId, selected: result.selected }, 'redrive dry run');
        return result;
      }
      let job;
      try {
        job = await app.notifier.redrives.start({
          filter: toFilter(filter),
          rate: rate ?? options.defaultRate,
          actor: by,
        });
      } catch (err) {
        if (err instanceof RedriveInProgressError) throw errors.redriveInProgress(err.jobId);
        throw err;
      }
      request.log.info({ jobId: job.id }, 'redrive job started');
      return reply.code(202).header('location', `/admin/redrives/${job.id}`).send(jobView(job));
    },
  );

  await app.register(redriveJobRoutes);
}
