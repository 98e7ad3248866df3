// The error codes ops-console answers with (problem+json via platform's httpError; a page request
// gets the same status and code as an HTML page, routes/pages.ts).
import { httpError } from '@app/platform';

export const errors = {
  unauthorized: () =>
    httpError(401, 'UNAUTHORIZED', 'Sign in first', 'No session, or it expired: sign in again'),
  invalidToken: () =>
    httpError(
      401,
      'INVALID_TOKEN',
      'Not a valid token',
      'The token is neither the operator nor the viewer token of this console',
    ),
  operatorOnly: () =>
    httpError(
      403,
      'OPERATOR_ONLY',
      'Read-only session',
      'This session signed in with the viewer token: it can look at everything and change nothing',
    ),
  csrfFailed: () =>
    httpError(
      403,
      'CSRF_FAILED',
      'Missing or wrong CSRF token',
      'The form did not carry this session’s CSRF token: reload the page and try again',
    ),
  originMismatch: () =>
    httpError(
      403,
      'ORIGIN_MISMATCH',
      'Cross-origin request refused',
      'A change must come from a page of this console (Origin or Referer of this origin)',
    ),
  deadLetterNotFound: (seq: number) =>
    httpError(404, 'DEADLETTER_NOT_FOUND', 'Dead letter not found', `No dead letter ${seq}`),
  groupNotFound: (id: string) =>
    httpError(
      404,
      'GROUP_NOT_FOUND',
      'Dead-letter group not found',
      `No dead letters have the reason signature ${id} any more`,
    ),
  invalidFilter: (detail: string) =>
    httpError(400, 'INVALID_FILTER', 'Invalid dead-letter filter', detail),
  streamNotProvisioned: (stream: string) =>
    httpError(
      503,
      'STREAM_NOT_PROVISIONED',
      'JetStream topology not provisioned',
      `Stream ${stream} does not exist yet: run the provision Job (pnpm nats:provision)`,
    ),
  natsUnavailable: (detail: string) =>
    httpError(
      503,
      'DEPENDENCY_UNAVAILABLE',
      'NATS is unavailable',
      `JetStream could not be read: ${detail}. Retry in 2 s.`,
      { retryAfterSeconds: 2 },
    ),
  invalidSelection: (detail: string) =>
    httpError(400, 'INVALID_SELECTION', 'Nothing to redrive', detail),
  redriveDisabled: () =>
    httpError(
      503,
      'REDRIVE_DISABLED',
      'Redrive is not configured',
      'ADMIN_TOKEN (notification-service’s admin token) is not set on this console',
    ),
  notificationUnavailable: (detail: string) =>
    httpError(
      503,
      'NOTIFICATION_UNAVAILABLE',
      'notification-service is unavailable',
      `Its admin API did not answer: ${detail}`,
      { retryAfterSeconds: 2 },
    ),
  adminRefused: (status: number) =>
    httpError(
      502,
      'ADMIN_API_REFUSED',
      'notification-service refused the console',
      `Its admin API answered ${status}: check that ADMIN_TOKEN matches notification-service's`,
    ),
  /** A problem the admin API answered, passed on with its own status and code. */
  fromAdmin: (status: number, code: string, title: string, detail?: string, extra?: object) =>
    httpError(status, code, title, detail, extra as Record<string, unknown> | undefined),
} as const;
