// W3C trace context for a signup: the caller's `traceparent` when it sent a valid one, else a new
// trace, so that every signup can be followed through the outbox, NATS and the consumers' logs.
import { randomBytes } from 'node:crypto';
import { isValidTraceparent } from '@app/outbox';

export function traceparentFor(header: unknown): string {
  if (isValidTraceparent(header)) return header;
  return `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
}
