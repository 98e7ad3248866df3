// Redrive, always through notification-service's admin API: a dry run first (the API's own, on
// record there) for a group, a selection or a filter, listing exactly what would move; then the
// redrive of exactly that list at the chosen rate, as the API's background job, followed on its
// page and cancellable; and the audit trail. Every post is an operator's, from this origin, with
// the session's CSRF token (plugins/session.ts changeAuth).
import type { App } from '@app/platform';
import type { Config } from '../config.js';
import { errors } from '../errors.js';
import type { AdminFilter } from '../lib/admin-client.js';
import { groupDeadLetters, matchesFilter } from '../lib/deadletters.js';
import { formatInt } from '../lib/format.js';
import { parseSeqs } from '../lib/signature.js';
import { changeAuth, pageAuth } from '../plugins/session.js';
import {
  ADMIN_502,
  ADMIN_503,
  CsrfBody,
  DryRunBody,
  JobParams,
  RedriveBody,
  changeAnswers,
  htmlResponse,
  pageAnswers,
  problem,
  redirectResponse,
} from '../schemas/console.js';
import { auditPage, describeFilter, dryRunPage, jobPage } from '../views/redrive.js';
import { contextOf } from './context.js';
import { notReadable, toFilter } from './pages.js';

/** The admin API takes at most this many sequences in one filter. */
export const MAX_SEQS = 10_000;

const SELECTION_400 = {
  INVALID_SELECTION: 'nothing chosen, or more than 10 000 dead letters',
  INVALID_FILTER: 'a time is not a date and time, or since is after until',
};

const NOT_FOUND_404 = {
  GROUP_NOT_FOUND: 'no dead letter has this reason signature any more',
};

export async function redriveRoutes(app: App, { config }: { config: Config }): Promise<void> {
  const actor = (name: string) => `console:${name}`;

  app.post(
    '/redrive/dry-run',
    {
      preValidation: changeAuth(app, { operator: true }),
      schema: {
        summary: "A dry run of a redrive (notification-service's own): exactly what would move",
        operationId: 'dryRunRedrive',
        tags: ['console-pages'],
        security: [{ consoleSession: [] }],
        body: DryRunBody,
        response: changeAnswers(
          {
            200: htmlResponse('What would move, and the form that redrives exactly that'),
            404: problem(NOT_FOUND_404),
            409: problem({ REDRIVE_IN_PROGRESS: 'another redrive is still running' }),
            502: ADMIN_502,
          },
          {
            400: SELECTION_400,
            503: { ...ADMIN_503, DEPENDENCY_UNAVAILABLE: 'NATS is unreachable' },
          },
        ),
      },
    },
    async (request, reply) => {
      const body = request.body;
      let filter: AdminFilter;
      let what: string;
      if (body.scope === 'group') {
        if (!body.group) throw errors.invalidSelection('Choose a group');
        const scan = await app.ops.deadLetters.scan().catch(notReadable(app));
        const group = groupDeadLetters(scan.items).find((g) => g.id === body.group);
        if (!group) throw errors.groupNotFound(body.group);
        filter = { seqs: group.seqs.slice(0, MAX_SEQS) };
        what =
          group.count > MAX_SEQS
            ? `the oldest ${formatInt(MAX_SEQS)} of the group "${group.signature}"`
            : `the group "${group.signature}"`;
      } else if (body.scope === 'selected') {
        const seqs = (body.seq ?? []).map(Number);
        if (seqs.length === 0) throw errors.invalidSelection('Select at least one dead letter');
        filter = { seqs };
        what = `${formatInt(seqs.length)} selected dead letters`;
      } else {
        const f = toFilter(body);
        const { group, ...rest } = f;
        filter = rest;
        if (group) {
          const scan = await app.ops.deadLetters.scan().catch(notReadable(app));
          const seqs = scan.items.filter((d) => matchesFilter(d, f)).map((d) => d.seq);
          if (seqs.length === 0) throw errors.invalidSelection('Nothing matches the filter');
          filter = { ...rest, seqs: seqs.slice(0, MAX_SEQS) };
        }
        what = `the filter: ${describeFilter(rest)}${group ? ', in the chosen group' : ''}`;
      }
      const dryRun = await app.ops.admin.dryRun(filter, actor(request.session!.name));
      request.log.info({ batchId: dryRun.batchId, selected: dryRun.selected }, 'dry run');
      const { seqs: _seqs, ...shownFilter } = filter;
      return reply.type('text/html; charset=utf-8').send(
        dryRunPage(contextOf(app, request), {
          dryRun,
          filter: shownFilter,
          rate: config.OPS_REDRIVE_RATE,
          what,
        }),
      );
    },
  );

  app.post(
    '/redrive',
    {
      preValidation: changeAuth(app, { operator: true }),
      schema: {
        summary: 'Redrive exactly the dry run’s dead letters at a rate: a background job',
        operationId: 'startRedrive',
        tags: ['console-pages'],
        security: [{ consoleSession: [] }],
        body: RedriveBody,
        response: changeAnswers(
          {
            303: redirectResponse('The job is started: to its page, with live progress'),
            409: problem({ REDRIVE_IN_PROGRESS: 'another redrive is still running' }),
            502: ADMIN_502,
          },
          { 400: SELECTION_400, 503: ADMIN_503 },
        ),
      },
    },
    async (request, reply) => {
      const seqs = parseSeqs(request.body.seqs, MAX_SEQS);
      if (!seqs || seqs.length === 0) {
        throw errors.invalidSelection(`Between 1 and ${formatInt(MAX_SEQS)} dead letters`);
      }
      const rate = Number(request.body.rate);
      if (rate < 1 || rate > 10_000)
        throw errors.invalidSelection('The rate is 1 to 10 000 per second');
      const { group: _group, ...filter } = toFilter(request.body);
      const job = await app.ops.admin.startRedrive(
        { ...filter, seqs },
        rate,
        actor(request.session!.name),
      );
      request.log.info({ jobId: job.id, count: seqs.length, rate }, 'redrive started');
      return reply.redirect(`/redrives/${job.id}`, 303);
    },
  );

  app.get(
    '/redrives',
    {
      preValidation: pageAuth,
      schema: {
        summary: 'The audit trail: every redrive job and dry run (who, when, what, result)',
        operationId: 'getRedrivesPage',
        tags: ['console-pages'],
        security: [{ consoleSession: [] }],
        response: pageAnswers({ 200: htmlResponse('The audit trail') }),
      },
    },
    async (request, reply) => {
      const [jobs, dryRuns] = await Promise.all([app.ops.audit.jobs(), app.ops.audit.dryRuns()]);
      return reply
        .type('text/html; charset=utf-8')
        .send(auditPage(contextOf(app, request), { jobs, dryRuns }));
    },
  );

  app.get(
    '/redrives/:id',
    {
      preValidation: pageAuth,
      schema: {
        summary: 'One redrive job: live progress, who, what, and what it moved',
        operationId: 'getRedrivePage',
        tags: ['console-pages'],
        security: [{ consoleSession: [] }],
        params: JobParams,
        response: pageAnswers({
          200: htmlResponse('The job'),
          404: problem({ REDRIVE_NOT_FOUND: 'no redrive job has this id' }),
          502: ADMIN_502,
          503: problem({ ...ADMIN_503, SHUTTING_DOWN: 'this instance is shutting down' }),
        }),
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const [job, moves] = await Promise.all([app.ops.admin.job(id), app.ops.audit.moves(id)]);
      return reply.type('text/html; charset=utf-8').send(
        jobPage(contextOf(app, request), {
          job,
          moves,
          refreshMs: Math.min(config.OPS_REFRESH_MS, 1000),
        }),
      );
    },
  );

  app.post(
    '/redrives/:id/cancel',
    {
      preValidation: changeAuth(app, { operator: true }),
      schema: {
        summary: 'Cancel a redrive job: it stops after the dead letter in hand',
        operationId: 'cancelRedrive',
        tags: ['console-pages'],
        security: [{ consoleSession: [] }],
        params: JobParams,
        body: CsrfBody,
        response: changeAnswers(
          {
            303: redirectResponse('Cancelling: back to the job'),
            404: problem({ REDRIVE_NOT_FOUND: 'no redrive job has this id' }),
            409: problem({ REDRIVE_FINISHED: 'the job has already finished' }),
            502: ADMIN_502,
          },
          { 503: ADMIN_503 },
        ),
      },
    },
    async (request, reply) => {
      await app.ops.admin.cancel(request.params.id);
      request.log.info({ jobId: request.params.id }, 'redrive cancel requested');
      return reply.redirect(`/redrives/${request.params.id}`, 303);
    },
  );
}
