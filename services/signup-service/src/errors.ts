// Every problem signup-service answers besides the platform's generic ones, each with a stable
// code, made in one place so the codes a client sees are listed together.
import { httpError } from '@app/platform';

export const errors = {
  emailTaken: () => httpError(409, 'EMAIL_TAKEN', 'An account with this email already exists'),
  invalidCredentials: () => httpError(401, 'INVALID_CREDENTIALS', 'Invalid email or password'),
  idempotencyKeyReused: () =>
    httpError(
      422,
      'IDEMPOTENCY_KEY_REUSED',
      'This Idempotency-Key was used with a different request body',
      'Use a new key for a different request.',
    ),
  idempotencyInProgress: () =>
    httpError(
      409,
      'IDEMPOTENCY_REQUEST_IN_PROGRESS',
      'A request with this Idempotency-Key is still being processed',
      'Retry later to get its result.',
    ),
} as const;
