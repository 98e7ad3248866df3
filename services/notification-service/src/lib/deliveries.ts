// The delivery ledger in Postgres (notification_deliveries, unique per event id + kind): a worker
// claims an event before sending, so a redelivery after a crash does not send twice, and a claim
// left by a worker that died mid-send can be taken over once it is older than the claim timeout.
// The last error lives here too: the server drops term() reasons on 2.9, so the dead-letter worker
// reads the reason from this table.
// Claims and "sent" marks are group-committed: calls made while a statement of the same kind is
// running wait and go together in the next one, so under load one round trip (and one commit)
// serves many events, and an idle worker still runs each call at once. Row semantics are those of
// the one-row statements: each row is claimed or marked exactly as it would be on its own.
/** The part of a Prisma client this module uses (raw SQL: ON CONFLICT ... WHERE reads clearer). */
export interface SqlClient {
  $queryRawUnsafe<T = unknown>(query: string, ...values: unknown[]): PromiseLike<T>;
  $executeRawUnsafe(query: string, ...values: unknown[]): PromiseLike<number>;
}

export type ClaimResult =
  | { outcome: 'claimed'; attempts: number }
  | { outcome: 'already_sent' }
  /** Another live worker holds a fresh claim; retry after `retryInMs`. */
  | { outcome: 'busy'; retryInMs: number };

export interface DeliveryRow {
  status: string;
  recipient: string;
  attempts: number;
  last_error: string | null;
  smtp_message_id: string | null;
}

interface ClaimInput {
  eventId: string;
  kind: string;
  recipient: string;
}

interface SentInput {
  eventId: string;
  kind: string;
  smtpMessageId: string;
}

interface Waiter<I, O> {
  item: I;
  resolve(value: O): void;
  reject(error: unknown): void;
}

/**
 * Runs `run` over the calls that arrived while earlier batches were busy, at most `maxInFlight`
 * batches at a time. A failed batch of several is retried one call at a time, so one bad row (or
 * a deadlock between two workers' batches) fails only its own caller.
 */
export class Batcher<I, O> {
  private queue: Array<Waiter<I, O>> = [];
  private running = 0;
  private scheduled = false;

  constructor(
    private readonly run: (items: I[]) => Promise<O[]>,
    private readonly options: { maxBatch: number; maxInFlight: number },
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      // Calls made in the same turn of the event loop (a pull batch, a batch's waiters) share
      // the first statement too.
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          this.pump();
        });
      }
    });
  }

  private pump(): void {
    while (this.running < this.options.maxInFlight && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.options.maxBatch);
      this.running++;
      void this.settle(batch).finally(() => {
        this.running--;
        this.pump();
      });
    }
  }

  private async settle(batch: Array<Waiter<I, O>>): Promise<void> {
    try {
      const results = await this.run(batch.map((w) => w.item));
      batch.forEach((w, i) => w.resolve(results[i] as O));
    } catch (error) {
      if (batch.length === 1) {
        batch[0]?.reject(error);
        return;
      }
      await Promise.all(batch.map((w) => this.settle([w])));
    }
  }
}

const key = (eventId: string, kind: string) => `${eventId}\u0000${kind}`;

export class Deliveries {
  private readonly claims: Batcher<ClaimInput, ClaimResult>;
  private readonly sent: Batcher<SentInput, void>;

  constructor(
    private readonly db: SqlClient,
    private readonly options: {
      workerId: string;
      claimTimeoutMs: number;
      /** Most rows per statement (default 64). */
      maxBatch?: number;
      /** Statements of one kind running at once (default 2). */
      maxInFlight?: number;
    },
  ) {
    const batching = {
      maxBatch: options.maxBatch ?? 64,
      maxInFlight: options.maxInFlight ?? 2,
    };
    this.claims = new Batcher((items) => this.claimBatch(items), batching);
    this.sent = new Batcher((items) => this.markSentBatch(items), batching);
  }

  claim(eventId: string, kind: string, recipient: string): Promise<ClaimResult> {
    return this.claims.submit({ eventId, kind, recipient });
  }

  markSent(eventId: string, kind: string, smtpMessageId: string): Promise<void> {
    return this.sent.submit({ eventId, kind, smtpMessageId });
  }

  private async claimBatch(items: ClaimInput[]): Promise<ClaimResult[]> {
    // One INSERT may not touch a row twice (ON CONFLICT DO UPDATE refuses): a repeated event goes
    // in a second statement, after the first has settled, exactly as two sequential calls would.
    const seen = new Set<string>();
    const first: number[] = [];
    const repeats: number[] = [];
    items.forEach((item, i) => {
      const k = key(item.eventId.toLowerCase(), item.kind);
      if (seen.has(k)) repeats.push(i);
      else {
        seen.add(k);
        first.push(i);
      }
    });
    const results = new Array<ClaimResult>(items.length);
    const firstResults = await this.claimUnique(first.map((i) => items[i] as ClaimInput));
    first.forEach((i, j) => (results[i] = firstResults[j] as ClaimResult));
    if (repeats.length > 0) {
      const again = await this.claimBatch(repeats.map((i) => items[i] as ClaimInput));
      repeats.forEach((i, j) => (results[i] = again[j] as ClaimResult));
    }
    return results;
  }

  private async claimUnique(items: ClaimInput[]): Promise<ClaimResult[]> {
    // Rows are inserted in key order, so two workers' overlapping batches lock in the same order.
    const rows = await this.db.$queryRawUnsafe<
      Array<{ event_id: string; kind: string; attempts: number }>
    >(
      `INSERT INTO notification_deliveries AS d
         (event_id, kind, status, recipient, claimed_at, claimed_by, attempts)
       SELECT i.event_id, i.kind, 'claimed', i.recipient, now(), $4, 1
         FROM unnest($1::uuid[], $2::text[], $3::text[]) AS i(event_id, kind, recipient)
        ORDER BY i.event_id, i.kind
       ON CONFLICT (event_id, kind) DO UPDATE
         SET status = 'claimed', claimed_at = now(), claimed_by = EXCLUDED.claimed_by,
             recipient = EXCLUDED.recipient, attempts = d.attempts + 1
         WHERE d.status = 'failed'
            OR (d.status = 'claimed' AND d.claimed_at < now() - $5::int * interval '1 millisecond')
       RETURNING d.event_id::text AS event_id, d.kind, d.attempts`,
      items.map((i) => i.eventId),
      items.map((i) => i.kind),
      items.map((i) => i.recipient),
      this.options.workerId,
      this.options.claimTimeoutMs,
    );
    const claimed = new Map(rows.map((r) => [key(r.event_id, r.kind), Number(r.attempts)]));
    const others = items.filter((i) => !claimed.has(key(i.eventId.toLowerCase(), i.kind)));

    // Only events someone else holds (or already sent) need their current state: read it after
    // the INSERT, in a statement of its own, so a row committed meanwhile is seen.
    const current = new Map<string, { status: string; age_ms: number }>();
    if (others.length > 0) {
      const rows2 = await this.db.$queryRawUnsafe<
        Array<{ event_id: string; kind: string; status: string; age_ms: number }>
      >(
        `SELECT d.event_id::text AS event_id, d.kind, d.status,
                (extract(epoch FROM now() - d.claimed_at) * 1000)::int AS age_ms
           FROM notification_deliveries d
           JOIN unnest($1::uuid[], $2::text[]) AS i(event_id, kind)
             ON d.event_id = i.event_id AND d.kind = i.kind`,
        others.map((i) => i.eventId),
        others.map((i) => i.kind),
      );
      for (const r of rows2) current.set(key(r.event_id, r.kind), r);
    }

    return items.map((item): ClaimResult => {
      const k = key(item.eventId.toLowerCase(), item.kind);
      const attempts = claimed.get(k);
      if (attempts !== undefined) return { outcome: 'claimed', attempts };
      const row = current.get(k);
      if (row?.status === 'sent') return { outcome: 'already_sent' };
      const remaining = this.options.claimTimeoutMs - Number(row?.age_ms ?? 0);
      return { outcome: 'busy', retryInMs: Math.max(100, remaining + 100) };
    });
  }

  private async markSentBatch(items: SentInput[]): Promise<void[]> {
    await this.db.$executeRawUnsafe(
      `UPDATE notification_deliveries AS d
          SET status = 'sent', sent_at = now(), smtp_message_id = u.smtp_message_id,
              last_error = NULL
         FROM unnest($1::uuid[], $2::text[], $3::text[]) AS u(event_id, kind, smtp_message_id)
        WHERE d.event_id = u.event_id AND d.kind = u.kind`,
      items.map((i) => i.eventId),
      items.map((i) => i.kind),
      items.map((i) => i.smtpMessageId),
    );
    return items.map(() => undefined);
  }

  /** Releases the claim with the reason, so the next delivery (or a redrive) may claim again. */
  async markFailed(eventId: string, kind: string, error: string): Promise<void> {
    await this.db.$executeRawUnsafe(
      `UPDATE notification_deliveries SET status = 'failed', last_error = $3
        WHERE event_id = $1::uuid AND kind = $2 AND status <> 'sent'`,
      eventId,
      kind,
      error.slice(0, 1000),
    );
  }

  async find(eventId: string, kind: string): Promise<DeliveryRow | undefined> {
    const rows = await this.db.$queryRawUnsafe<DeliveryRow[]>(
      `SELECT status, recipient, attempts, last_error, smtp_message_id
         FROM notification_deliveries WHERE event_id = $1::uuid AND kind = $2`,
      eventId,
      kind,
    );
    return rows[0];
  }
}
