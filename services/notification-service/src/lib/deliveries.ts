// The delivery ledger in Postgres (notification_deliveries, unique per event id + kind): a worker
// claims an event before sending, so a redelivery after a crash does not send twice, and a claim
// left by a worker that died mid-send can be taken over once it is older than the claim timeout.
// The last error lives here too: the server drops term() reasons on 2.9, so the dead-letter worker
// reads the reason from this table.

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

export class Deliveries {
  constructor(
    private readonly db: SqlClient,
    private readonly options: { workerId: string; claimTimeoutMs: number },
  ) {}

  async claim(eventId: string, kind: string, recipient: string): Promise<ClaimResult> {
    const rows = await this.db.$queryRawUnsafe<Array<{ attempts: number }>>(
      `INSERT INTO notification_deliveries AS d
         (event_id, kind, status, recipient, claimed_at, claimed_by, attempts)
       VALUES ($1::uuid, $2, 'claimed', $3, now(), $4, 1)
       ON CONFLICT (event_id, kind) DO UPDATE
         SET status = 'claimed', claimed_at = now(), claimed_by = EXCLUDED.claimed_by,
             recipient = EXCLUDED.recipient, attempts = d.attempts + 1
         WHERE d.status = 'failed'
            OR (d.status = 'claimed' AND d.claimed_at < now() - $5::int * interval '1 millisecond')
       RETURNING d.attempts`,
      eventId,
      kind,
      recipient,
      this.options.workerId,
      this.options.claimTimeoutMs,
    );
    const claimed = rows[0];
    if (claimed) return { outcome: 'claimed', attempts: Number(claimed.attempts) };

    const current = await this.db.$queryRawUnsafe<Array<{ status: string; age_ms: number }>>(
      `SELECT status, (extract(epoch FROM now() - claimed_at) * 1000)::int AS age_ms
         FROM notification_deliveries WHERE event_id = $1::uuid AND kind = $2`,
      eventId,
      kind,
    );
    const row = current[0];
    if (row?.status === 'sent') return { outcome: 'already_sent' };
    const remaining = this.options.claimTimeoutMs - Number(row?.age_ms ?? 0);
    return { outcome: 'busy', retryInMs: Math.max(100, remaining + 100) };
  }

  async markSent(eventId: string, kind: string, smtpMessageId: string): Promise<void> {
    await this.db.$executeRawUnsafe(
      `UPDATE notification_deliveries
          SET status = 'sent', sent_at = now(), smtp_message_id = $3, last_error = NULL
        WHERE event_id = $1::uuid AND kind = $2`,
      eventId,
      kind,
      smtpMessageId,
    );
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
