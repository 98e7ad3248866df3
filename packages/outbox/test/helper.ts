// Shared pieces of the outbox tests: a database and a stream of their own, rows written the way a
// service writes them, a relay stopped in teardown, and a collector that waits (bounded) for
// messages to land in the stream.
import { randomBytes } from 'node:crypto';
import { makeEnvelope, topology, type Names } from '@app/contracts';
import { isolatedDatabase, isolatedNats, type IsolatedNats, type TestLike } from '@app/testing';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import pg from 'pg';
import { enqueue, startRelay, type Relay, type RelayOptions } from '../src/index.js';

/** The producer the tests write and relay as, unless a test is about producers. */
export const PRODUCER = 'signup-service';

export interface Collected {
  id: string;
  subject: string;
  seq: number;
  data: { id: string; type: string; data: { userId: string; email: string } };
  traceparent: string | undefined;
}

/** Creates the namespace's USERS stream exactly as declared in @app/contracts. */
export async function createUsersStream(jsm: JetStreamManager, namespace: string) {
  const topo = topology({ namespace });
  const users = topo.streams.find((s) => s.name === topo.names.streams.users)!;
  await jsm.streams.add(users);
  return topo.names;
}

export function traceparent(): string {
  return `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
}

export interface Outbox {
  databaseUrl: string;
  nats: IsolatedNats;
  names: Names;
}

/** An isolated database and NATS namespace, with the namespace's USERS stream. */
export async function outbox(t: TestLike): Promise<Outbox> {
  const [db, nats] = await Promise.all([isolatedDatabase(t), isolatedNats(t)]);
  return { databaseUrl: db.url, nats, names: await createUsersStream(nats.jsm, nats.namespace) };
}

/** Starts a relay (producer PRODUCER unless given) and stops it in teardown. */
export async function relay(
  t: TestLike,
  options: Omit<RelayOptions, 'producer'> & { producer?: string },
): Promise<Relay> {
  const r = await startRelay({ producer: PRODUCER, ...options });
  t.teardown(() => r.stop());
  return r;
}

/**
 * Writes `count` user.signed_up events, each in its own transaction, as `producer` (default
 * PRODUCER); returns their ids in order.
 */
export async function writeEvents(
  databaseUrl: string,
  subject: string,
  count: number,
  options: { withTrace?: boolean; producer?: string; type?: string } = {},
): Promise<Array<{ id: string; traceparent: string }>> {
  const withTrace = options.withTrace ?? true;
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const out: Array<{ id: string; traceparent: string }> = [];
  try {
    for (let i = 0; i < count; i++) {
      const envelope = makeEnvelope(options.type ?? 'user.signed_up', 1, {
        userId: crypto.randomUUID(),
        email: `u${i}@example.com`,
        displayName: `User ${i}`,
      });
      const tp = traceparent();
      await client.query('BEGIN');
      await enqueue(client, {
        producer: options.producer ?? PRODUCER,
        subject,
        envelope,
        traceparent: withTrace ? tp : undefined,
      });
      await client.query('COMMIT');
      out.push({ id: envelope.id, traceparent: tp });
    }
  } finally {
    await client.end();
  }
  return out;
}

/** Reads the whole stream from the start until `count` messages arrived (or fails after timeoutMs). */
export async function collect(
  js: JetStreamClient,
  stream: string,
  count: number,
  timeoutMs = 30_000,
): Promise<Collected[]> {
  const consumer = await js.consumers.get(stream);
  const messages = await consumer.consume();
  const out: Collected[] = [];
  const timer = setTimeout(() => messages.stop(), timeoutMs);
  try {
    for await (const m of messages) {
      out.push({
        id: m.headers?.get('Nats-Msg-Id') ?? '',
        subject: m.subject,
        seq: m.seq,
        data: m.json(),
        traceparent: m.headers?.get('traceparent') || undefined,
      });
      if (out.length >= count) break;
    }
  } finally {
    clearTimeout(timer);
    messages.stop();
  }
  if (out.length < count)
    throw new Error(`only ${out.length} of ${count} messages arrived within ${timeoutMs} ms`);
  return out;
}

/** How many messages the stream stores right now. */
export async function streamCount(jsm: JetStreamManager, stream: string): Promise<number> {
  return (await jsm.streams.info(stream)).state.messages;
}

/** Rows not yet published, of every producer or of one. */
export async function pendingCount(databaseUrl: string, producer?: string): Promise<number> {
  const rows = await query<{ c: number }>(
    databaseUrl,
    'SELECT count(*)::int AS c FROM outbox_events WHERE published_at IS NULL AND ($1::text IS NULL OR producer = $1)',
    [producer ?? null],
  );
  return rows[0]?.c ?? 0;
}

export async function query<T extends pg.QueryResultRow>(
  databaseUrl: string,
  sql: string,
  values: unknown[] = [],
) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query<T>(sql, values)).rows;
  } finally {
    await client.end();
  }
}
