// The trace a signup belongs to: the caller's `traceparent` when contracts' check accepts it, else
// a new trace, so that every signup can be followed through the outbox, NATS and the consumers.
import { randomBytes } from 'node:crypto';
import { isValidTraceparent } from '@app/contracts';

export function traceparentFor(header: unknown): string {
  if (isValidTraceparent(header)) return header;
  return `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
}
