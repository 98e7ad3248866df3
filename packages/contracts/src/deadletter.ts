// The dead-letter stream's vocabulary, shared by the worker that writes DEADLETTER
// (notification-service) and everything that reads it (its redrive, the ops console): the Dlq-*
// headers each dead letter carries, and the NATS subject matching their filters apply to the
// original subject, so that a filter selects the same dead letters wherever it is typed.

/** The headers the dead-letter worker sets on every dead letter: where it came from and why. */
export const DLQ_HEADERS = {
  originalSubject: 'Dlq-Original-Subject',
  originalStream: 'Dlq-Original-Stream',
  originalSeq: 'Dlq-Original-Seq',
  originalTime: 'Dlq-Original-Time',
  consumer: 'Dlq-Consumer',
  deliveries: 'Dlq-Deliveries',
  reason: 'Dlq-Reason',
  /** `max_deliveries` or `terminated`: which advisory made it a dead letter. */
  advisory: 'Dlq-Advisory',
} as const;

export type DlqHeader = (typeof DLQ_HEADERS)[keyof typeof DLQ_HEADERS];

/** NATS subject matching: `*` is exactly one token, `>` (last) one or more trailing tokens. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== '*' && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}
