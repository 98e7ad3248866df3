// Status and cancellation of background redrive jobs (registered inside the admin scope, so the
// same token and rate limits apply). The job itself lives in lib/redrive-jobs.ts.
import type { App } from '@app/platform';
import { errors } from '../../errors.js';
import { RedriveFinishedError, jobView } from '../../lib/redrive-jobs.js';
import { ADMIN_SECURITY, CancelResponses, JobParams, JobResponses } from '../../schemas/admin.js';

export async function redriveJobRoutes(app: App): Promise<void> {
  app.get(
    '/admin/redrives/:id',
    {
      schema: {
        summary: 'A redrive job: status, counts so far, times, actor, filter, rate, last error',
        operationId: 'getRedriveJob',
        tags: ['redrive-jobs'],
        security: ADMIN_SECURITY,
        params: JobParams,
        response: JobResponses,
      },
    },
    async (request) => {
      const job = await app.notifier.redrives.get(request.params.id);
      if (!job) throw errors.redriveNotFound(request.params.id);
      return jobView(job);
    },
  );

  app.post(
    '/admin/redrives/:id/cancel',
    {
      schema: {
        summary: 'Stop a redrive job after the dead letter in hand (202: the job, cancelling)',
        operationId: 'cancelRedriveJob',
        tags: ['redrive-jobs'],
        security: ADMIN_SECURITY,
        params: JobParams,
        response: CancelResponses,
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      let job;
      try {
        job = await app.notifier.redrives.cancel(id);
      } catch (err) {
        if (err instanceof RedriveFinishedError) throw errors.redriveFinished(id, err.status);
        throw err;
      }
      if (!job) throw errors.redriveNotFound(id);
      return reply.code(202).send(jobView(job));
    },
  );
}
