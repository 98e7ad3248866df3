// The problems signup-service answers besides the platform's generic ones, with stable codes.
import { httpError } from '@app/platform';

export const EMAIL_TAKEN = {
  status: 409,
  code: 'EMAIL_TAKEN',
  title: 'An account with this email already exists',
} as const;

export const invalidCredentials = () =>
  httpError(401, 'INVALID_CREDENTIALS', 'Invalid email or password');

export const idempotencyKeyReused = () =>
  httpError(
    422,
    'IDEMPOTENCY_KEY_REUSED',
    'This Idempotency-Key was used with a different request body',
    'Use a new key for a different request.',
  );

export const idempotencyInProgress = () =>
  httpError(
    409,
    'IDEMPOTENCY_REQUEST_IN_PROGRESS',
    'A request with this Idempotency-Key is still being processed',
    'Retry later to get its result.',
  );
