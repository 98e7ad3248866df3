// W3C Trace Context: which `traceparent` values may be carried from an HTTP request into the
// outbox, NATS headers and emails. A malformed one is dropped rather than propagated.

const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** True for a version-00-shaped traceparent with a non-zero trace id and parent id. */
export function isValidTraceparent(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    TRACEPARENT.test(value) &&
    !value.startsWith('ff') &&
    !/^[0-9a-f]{2}-0{32}-/.test(value) &&
    !/-0{16}-[0-9a-f]{2}$/.test(value)
  );
}
