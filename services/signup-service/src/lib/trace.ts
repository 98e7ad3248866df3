// The trace a signup belongs to: the caller's `traceparent` when contracts' check accepts it, else
// a new trace (or, traced, the request's span), so that every signup can be followed through the outbox, NATS and the consumers.
import { randomBytes } from 'node:crypto';
import { isValidTraceparent } from '@app/contracts';
import { activeTraceHeaders } from '@app/platform';

/** Traced, the request span's own traceparent: logs then name the span the trace shows. */
export function traceparentFor(header: unknown): string {
  const active = activeTraceHeaders().traceparent;
  if (active !== undefined) return active;
  if (isValidTraceparent(header)) return header;
  return `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
}
