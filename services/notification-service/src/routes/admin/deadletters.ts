// Admin routes over the dead-letter stream: list with filters, and redrive (dry run by default)
// to the original subjects at a bounded rate. Protected by a bearer ADMIN_TOKEN compared in
// constant time, and rate-limited per client IP, with a tighter budget for wrong tokens so that
// guessing the token is refused (429) long before it could succeed. Handlers call lib/redrive.ts.
import { createHash, timingSafeEqual } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { SafeString } from '@app/contracts';
import { rateLimited, type App, type RateLimitRule } from '@app/platform';
import { errors } from '../../errors.js';
import { checkFilter, listDeadLetters, redrive, type DeadLetterFilter } from '../../lib/redrive.js';

const Filter = Type.Object(
  {
    subject: Type.Optional(
      SafeString({
        minLength: 1,
        maxLength: 256,
        description: 'original subject; * and > allowed',
      }),
    ),
    reason: Type.Optional(
      SafeString({ minLength: 1, maxLength: 200, description: 'substring of Dlq-Reason' }),
    ),
    since: Type.Optional(Type.String({ format: 'date-time' })),
    until: Type.Optional(Type.String({ format: 'date-time' })),
    seqs: Type.Optional(Type.Array(Type.Integer({ minimum: 1 }), { maxItems: 10_000 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
  },
  { additionalProperties: false },
);
const ListQuery = Type.Object(
  {
    subject: Type.Optional(SafeString({ minLength: 1, maxLength: 256 })),
    reason: Type.Optional(SafeString({ minLength: 1, maxLength: 200 })),
    since: Type.Optional(Type.String({ format: 'date-time' })),
    until: Type.Optional(Type.String({ format: 'date-time' })),
    limit: Type.Integer({ minimum: 1, maximum: 10_000, default: 100 }),
  },
  { additionalProperties: false },
);
const DeadLetter = Type.Object({
  seq: Type.Integer(),
  subject: Type.String(),
  deadLetteredAt: Type.String(),
  originalSubject: Type.Union([Type.String(), Type.Null()]),
  originalStream: Type.Union([Type.String(), Type.Null()]),
  originalSeq: Type.Union([Type.Integer(), Type.Null()]),
  originalTime: Type.Union([Type.String(), Type.Null()]),
  consumer: Type.Union([Type.String(), Type.Null()]),
  deliveries: Type.Union([Type.Integer(), Type.Null()]),
  reason: Type.Union([Type.String(), Type.Null()]),
  size: Type.Integer(),
  sha256: Type.String(),
});
const RedriveBody = Type.Object(
  {
    filter: Filter,
    dryRun: Type.Boolean({
      default: true,
      description: 'true (default): only show what would move',
    }),
    rate: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 10_000, description: 'messages per second' }),
    ),
    actor: Type.Optional(SafeString({ minLength: 1, maxLength: 100 })),
  },
  { additionalProperties: false },
);
const RedriveReply = Type.Object({
  batchId: Type.String(),
  dryRun: Type.Boolean(),
  selected: Type.Integer(),
  redriven: Type.Integer(),
  items: Type.Array(
    Type.Intersect([
      DeadLetter,
      Type.Object({ newMsgId: Type.String(), skipped: Type.Optional(Type.String()) }),
    ]),
  ),
});
const problem = Type.Ref('Problem');

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

  app.get(
    '/admin/deadletters',
    {
      schema: {
        summary: 'List dead letters, filtered by original subject, reason and time range',
        querystring: ListQuery,
        response: {
          200: Type.Object({ count: Type.Integer(), items: Type.Array(DeadLetter) }),
          400: problem,
          401: problem,
          429: problem,
          503: problem,
        },
      },
    },
    async (request) => {
      const items = await listDeadLetters(app.notifier.redriveDeps(), toFilter(request.query));
      return { count: items.length, items };
    },
  );

  app.post(
    '/admin/deadletters/redrive',
    {
      schema: {
        summary: 'Republish chosen dead letters to their original subject (dryRun shows only)',
        body: RedriveBody,
        response: { 200: RedriveReply, 400: problem, 401: problem, 429: problem, 503: problem },
      },
    },
    async (request) => {
      const { filter, dryRun, rate, actor } = request.body;
      const result = await redrive(app.notifier.redriveDeps(), {
        filter: toFilter(filter),
        dryRun,
        rate: rate ?? options.defaultRate,
        actor: `http:${actor ?? 'admin'}`,
        onProgress: (done, total) => {
          if (done % 100 === 0 || done === total)
            request.log.info({ done, total }, 'redrive progress');
        },
      });
      request.log.info(
        { batchId: result.batchId, dryRun, selected: result.selected, redriven: result.redriven },
        'redrive finished',
      );
      return result;
    },
  );
}
