// Writing an event into the outbox, inside the caller's own transaction: the event row commits (or
// rolls back) together with the business rows, which is the whole point of a transactional outbox.
// Works with a `pg` client that is inside BEGIN or with a Prisma interactive-transaction client.
import { isValidTraceparent } from '@app/contracts';
import { activeTraceHeaders, withSpan } from '@app/platform';

/** An envelope as @app/contracts' `makeEnvelope` builds it; `id` becomes the `Nats-Msg-Id`. */
export interface OutboxEnvelope {
  id: string;
  type: string;
  [key: string]: unknown;
}

export interface OutboxEvent {
  /** The service writing the event (its SERVICE_NAME): only that service's relay publishes it. */
  producer: string;
  /** The JetStream subject, from `names(namespace).subjects`. */
  subject: string;
  envelope: OutboxEnvelope;
  /** W3C trace context of the request that caused the event, carried to the NATS headers. */
  traceparent?: string | undefined;
  tracestate?: string | undefined;
}

/** Anything with pg's `query(text, values)` (a `pg.PoolClient` or `pg.Client` inside BEGIN). */
export interface PgQueryable {
  query(text: string, values?: unknown[]): Promise<unknown>;
}

/** The part of a Prisma transaction client that enqueue needs. */
export interface PrismaTxLike {
  $executeRawUnsafe(query: string, ...values: unknown[]): Promise<number>;
}

const INSERT_SQL = `INSERT INTO outbox_events (id, producer, subject, type, payload, headers)
  VALUES ($1::uuid, $2, $3, $4, $5::jsonb, $6::jsonb)`;

function rowValues(event: OutboxEvent): unknown[] {
  if (!event.producer) throw new Error('outbox event needs a producer');
  if (!event.subject) throw new Error('outbox event needs a subject');
  if (!event.envelope?.id || !event.envelope.type) {
    throw new Error('outbox event envelope needs an id and a type');
  }
  // Traced, the row carries the enqueue span's context: the relay's publish becomes its child.
  const headers: Record<string, string> = activeTraceHeaders();
  if (headers.traceparent === undefined && isValidTraceparent(event.traceparent)) {
    headers.traceparent = event.traceparent;
    if (event.tracestate && event.tracestate.length <= 512) headers.tracestate = event.tracestate;
  }
  return [
    event.envelope.id,
    event.producer,
    event.subject,
    event.envelope.type,
    JSON.stringify(event.envelope),
    JSON.stringify(headers),
  ];
}

/** Inserts the outbox row through a pg client that is inside the caller's transaction. */
export async function enqueue(tx: PgQueryable, event: OutboxEvent): Promise<void> {
  await traced(event, async (values) => {
    await tx.query(INSERT_SQL, values);
  });
}

/** Inserts the outbox row through a Prisma interactive-transaction client (`$transaction(async tx => ...)`). */
export async function enqueuePrisma(tx: PrismaTxLike, event: OutboxEvent): Promise<void> {
  await traced(event, async (values) => {
    await tx.$executeRawUnsafe(INSERT_SQL, ...values);
  });
}

/** Runs the insert inside the `outbox enqueue` span, with the row's values taken inside it. */
function traced(event: OutboxEvent, insert: (values: unknown[]) => Promise<void>): Promise<void> {
  return withSpan(
    'outbox enqueue',
    () => ({
      attributes: {
        'messaging.destination.name': event.subject,
        'messaging.message.id': event.envelope.id,
        'outbox.event_type': event.envelope.type,
      },
    }),
    () => insert(rowValues(event)),
  );
}
