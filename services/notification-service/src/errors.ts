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
};
