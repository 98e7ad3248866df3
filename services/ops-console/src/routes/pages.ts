// The reading pages: the overview, the dead letters (groups, filtered list) and one dead letter.
// Handlers stay thin: the numbers come from app.ops (lib/overview.ts, lib/deadletters.ts) and the
// markup from views/.
import { NatsUnavailableError, type App } from '@app/platform';
import type { Config } from '../config.js';
import { errors } from '../errors.js';
import {
  checkFilter,
  groupDeadLetters,
  matchesFilter,
  viewOf,
  type DeadLetterFilter,
} from '../lib/deadletters.js';
import { pageAuth } from '../plugins/session.js';
import { ListQuery, SeqParams, htmlResponse, pageAnswers, problem } from '../schemas/console.js';
import { deadLetterPage, deadLettersPage } from '../views/deadletters.js';
import { overviewPage } from '../views/overview.js';
import { contextOf } from './context.js';

/** A filter time as ISO 8601: a datetime-local value (no zone) is UTC. */
export function filterTime(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const zoned = /(Z|[+-]\d{2}:\d{2})$/.test(value) ? value : `${value}Z`;
  const t = Date.parse(zoned);
  return Number.isFinite(t) ? new Date(t).toISOString() : value;
}

/** The filter of a query or form: empty fields are no filter; times as ISO 8601. */
export function toFilter(input: {
  subject?: string | undefined;
  reason?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
  group?: string | undefined;
}): DeadLetterFilter {
  const filter: DeadLetterFilter = {};
  const subject = input.subject?.trim();
  const reason = input.reason?.trim();
  if (subject) filter.subject = subject;
  if (reason) filter.reason = reason;
  const since = filterTime(input.since);
  const until = filterTime(input.until);
  if (since) filter.since = since;
  if (until) filter.until = until;
  if (input.group) filter.group = input.group;
  const problems = checkFilter(filter);
  if (problems.length) throw errors.invalidFilter(problems.join('; '));
  return filter;
}

const NOT_READABLE = {
  STREAM_NOT_PROVISIONED: 'the dead-letter stream does not exist yet: run the provision Job',
  DEPENDENCY_UNAVAILABLE: 'NATS is unreachable',
};

export async function pageRoutes(app: App, { config }: { config: Config }): Promise<void> {
  app.get(
    '/',
    {
      preValidation: pageAuth,
      schema: {
        summary: 'Overview: readiness, streams, consumers, outbox, emails, cache',
        operationId: 'getOverviewPage',
        tags: ['console-pages'],
        security: [{ consoleSession: [] }],
        response: pageAnswers({ 200: htmlResponse('The overview page') }),
      },
    },
    async (request, reply) => {
      const overview = await app.ops.overview.collect({
        record: app.ops.overview.recordDue(config.OPS_SAMPLE_INTERVAL_MS),
      });
      return reply
        .type('text/html; charset=utf-8')
        .send(overviewPage(contextOf(app, request), overview, config.OPS_REFRESH_MS));
    },
  );

  app.get(
    '/deadletters',
    {
      preValidation: pageAuth,
      schema: {
        summary: 'Dead letters grouped by reason signature, and the list with filters',
        operationId: 'getDeadLettersPage',
        tags: ['console-pages'],
        security: [{ consoleSession: [] }],
        querystring: ListQuery,
        response: pageAnswers(
          {
            200: htmlResponse('The groups and the filtered list'),
            503: problem({ ...NOT_READABLE, SHUTTING_DOWN: 'this instance is shutting down' }),
          },
          { 400: { INVALID_FILTER: 'a time is not a date and time, or since is after until' } },
        ),
      },
    },
    async (request, reply) => {
      const filter = toFilter(request.query);
      const scan = await app.ops.deadLetters.scan().catch(notReadable(app));
      const groups = groupDeadLetters(scan.items);
      const group = filter.group ? groups.find((g) => g.id === filter.group) : undefined;
      const matching = scan.items.filter((d) => matchesFilter(d, filter));
      return reply.type('text/html; charset=utf-8').send(
        deadLettersPage(contextOf(app, request), {
          scan,
          groups,
          matching,
          filter,
          group,
          stream: app.ops.names.streams.deadletter,
        }),
      );
    },
  );

  app.get(
    '/deadletters/:seq',
    {
      preValidation: pageAuth,
      schema: {
        summary: 'One dead letter: every header, the payload, where it came from and why',
        operationId: 'getDeadLetterPage',
        tags: ['console-pages'],
        security: [{ consoleSession: [] }],
        params: SeqParams,
        response: pageAnswers({
          200: htmlResponse('The dead letter'),
          404: problem({ DEADLETTER_NOT_FOUND: 'no dead letter has this sequence (redriven?)' }),
          503: problem({ ...NOT_READABLE, SHUTTING_DOWN: 'this instance is shutting down' }),
        }),
      },
    },
    async (request, reply) => {
      const { seq } = request.params;
      const m = await app.ops.deadLetters.message(seq).catch(notReadable(app));
      if (!m) throw errors.deadLetterNotFound(seq);
      const headers: Array<[string, string]> = [];
      if (m.header)
        for (const [k, values] of m.header) for (const v of values) headers.push([k, v]);
      return reply.type('text/html; charset=utf-8').send(
        deadLetterPage(contextOf(app, request), {
          view: viewOf(m),
          headers,
          data: m.data,
          stream: app.ops.names.streams.deadletter,
        }),
      );
    },
  );
}

// nats.js's errors when the server is gone or does not answer in time.
const NATS_DOWN =
  /^(TimeoutError|ClosedConnectionError|NoRespondersError|RequestError|ConnectionError)$/;

/** A failed read of DEADLETTER as the problem the operator sees. */
export function notReadable(app: App) {
  return (err: unknown): never => {
    const code = (err as { code?: unknown })?.code;
    if (code === 10059 || /stream not found/i.test(String((err as Error)?.message))) {
      throw errors.streamNotProvisioned(app.ops.names.streams.deadletter);
    }
    const name = (err as Error)?.name ?? '';
    if (err instanceof NatsUnavailableError || NATS_DOWN.test(name)) {
      throw errors.natsUnavailable((err as Error).message);
    }
    throw err;
  };
}
