// The error codes notification-service answers with (problem+json via platform's httpError).
import { httpError } from '@app/platform';

export const errors = {
  unauthorized: () =>
    httpError(
      401,
      'UNAUTHORIZED',
      'Unauthorized',
      'A valid "authorization: Bearer <ADMIN_TOKEN>" header is required',
    ),
  adminDisabled: () =>
    httpError(
      503,
      'ADMIN_DISABLED',
      'Admin routes disabled',
      'ADMIN_TOKEN is not configured on this instance',
    ),
  invalidFilter: (problems: string[]) =>
    httpError(400, 'INVALID_FILTER', 'Invalid dead-letter filter', problems.join('; ')),
  redriveNotFound: (id: string) =>
    httpError(404, 'REDRIVE_NOT_FOUND', 'Redrive job not found', `No redrive job ${id}`),
  redriveInProgress: (id: string) =>
    httpError(
      409,
      'REDRIVE_IN_PROGRESS',
      'A redrive is already running',
      `Redrive job ${id} has not finished; follow it at /admin/redrives/${id} or cancel it`,
      { jobId: id },
    ),
  redriveFinished: (id: string, status: string) =>
    httpError(
      409,
      'REDRIVE_FINISHED',
      'Redrive job already finished',
      `Redrive job ${id} is ${status}`,
    ),
  streamNotProvisioned: (stream: string) =>
    httpError(
      503,
      'STREAM_NOT_PROVISIONED',
      'JetStream topology not provisioned',
      `Stream ${stream} does not exist yet: run the provision Job (pnpm nats:provision)`,
    ),
} as const;
