// Every HTTP error profile-service answers with, each a problem+json with a stable code, made here
// and nowhere else (platform's httpError gives them the one shape).
import { DEPENDENCY_RETRY_AFTER_SECONDS, httpError } from '@app/platform';

export const errors = {
  profileNotFound: (id: string) =>
    httpError(404, 'PROFILE_NOT_FOUND', 'Profile not found', `No profile with id ${id}`),
  unauthorized: (detail: string) =>
    httpError(401, 'UNAUTHORIZED', 'A valid bearer token is required', detail),
  forbidden: () =>
    httpError(403, 'FORBIDDEN', 'Not allowed', 'A token may only change its own profile'),
  overloaded: (retryAfterSeconds: number) =>
    httpError(
      503,
      'OVERLOADED',
      'Too many profile reads in flight',
      'The database read limit is reached; retry shortly',
      { retryAfterSeconds },
    ),
  jwksUnavailable: () =>
    httpError(
      503,
      'DEPENDENCY_UNAVAILABLE',
      'A service this request needs is unavailable',
      `The keys that verify tokens cannot be fetched right now. Retry in ${DEPENDENCY_RETRY_AFTER_SECONDS} s.`,
      { retryAfterSeconds: DEPENDENCY_RETRY_AFTER_SECONDS },
    ),
} as const;
