// The JSON the pages refresh from (and what a script may read): the overview, a redrive job's
// progress, and the dead-letter groups. Each carries `fields` (the text of each number, by the
// page's data-field names), `states` and `final`, so static/console.js needs no formatting of
// its own. Signed in only, viewers included.
import type { App } from '@app/platform';
import type { Config } from '../config.js';
import { groupDeadLetters } from '../lib/deadletters.js';
import { apiAuth } from '../plugins/session.js';
import {
  ADMIN_502,
  ADMIN_503,
  GroupsReply,
  JobParams,
  OverviewReply,
  RedriveJobReply,
  apiAnswers,
  problem,
} from '../schemas/console.js';
import { jsonResponse } from '@app/contracts';
import { overviewFields } from '../views/overview.js';
import { jobFields } from '../views/redrive.js';
import { notReadable } from './pages.js';

export async function apiRoutes(app: App, { config }: { config: Config }): Promise<void> {
  app.get(
    '/api/overview',
    {
      preValidation: apiAuth,
      schema: {
        summary: 'The overview as JSON, with the text of each of its numbers',
        operationId: 'getOverview',
        tags: ['console-api'],
        security: [{ consoleSession: [] }],
        response: apiAnswers({ 200: jsonResponse(OverviewReply, 'The overview now') }),
      },
    },
    async () => {
      const overview = await app.ops.overview.collect({
        record: app.ops.overview.recordDue(config.OPS_SAMPLE_INTERVAL_MS),
      });
      return { overview, ...overviewFields(overview), final: false };
    },
  );

  app.get(
    '/api/redrives/:id',
    {
      preValidation: apiAuth,
      schema: {
        summary: "A redrive job's progress, from notification-service's admin API",
        operationId: 'getRedriveProgress',
        tags: ['console-api'],
        security: [{ consoleSession: [] }],
        params: JobParams,
        response: apiAnswers(
          {
            200: jsonResponse(RedriveJobReply, 'The job now; `final` once it has finished'),
            404: problem({ REDRIVE_NOT_FOUND: 'no redrive job has this id' }),
            502: ADMIN_502,
          },
          ADMIN_503,
        ),
      },
    },
    async (request) => {
      const job = await app.ops.admin.job(request.params.id);
      return { job, ...jobFields(job) };
    },
  );

  app.get(
    '/api/deadletters/groups',
    {
      preValidation: apiAuth,
      schema: {
        summary: 'Dead letters grouped by reason signature',
        operationId: 'getDeadLetterGroups',
        tags: ['console-api'],
        security: [{ consoleSession: [] }],
        response: apiAnswers(
          { 200: jsonResponse(GroupsReply, 'The groups, largest first') },
          {
            STREAM_NOT_PROVISIONED: 'the dead-letter stream does not exist yet',
            DEPENDENCY_UNAVAILABLE: 'NATS is unreachable',
          },
        ),
      },
    },
    async () => {
      const scan = await app.ops.deadLetters.scan().catch(notReadable(app));
      return {
        total: scan.total,
        scanned: scan.items.length,
        groups: groupDeadLetters(scan.items),
      };
    },
  );
}
