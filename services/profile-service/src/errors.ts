// The errors profile-service answers with, each a problem+json with a stable code.
import { httpError } from '@app/platform';

export const profileNotFound = (id: string) =>
  httpError(404, 'PROFILE_NOT_FOUND', 'Profile not found', `No profile with id ${id}`);

export const unauthorized = (detail: string) =>
  httpError(401, 'UNAUTHORIZED', 'A valid bearer token is required', detail);

export const forbidden = () =>
  httpError(403, 'FORBIDDEN', 'Not allowed', 'A token may only change its own profile');

export const overloaded = (retryAfterSeconds: number) =>
  httpError(
    503,
    'OVERLOADED',
    'Too many profile reads in flight',
    'The database read limit is reached; retry shortly',
    { retryAfterSeconds },
  );
