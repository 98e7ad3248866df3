// The delivery ledger in Postgres (notification_deliveries, unique per event id + kind): a worker
// claims an event before sending, so a redelivery after a crash does not send twice, and a claim
// left by a worker that died mid-send can be taken over once it is older than the claim timeout.
// The last error lives here too: the server drops term() reasons on 2.9, so the dead-letter worker
// reads the reason from this table.
// Claims and "sent" marks are group-committed (platform's Batcher): calls made while a statement of
// the same kind is running wait and go together in the next one, so under load one round trip (and
// one commit) serves many events, and an idle worker still runs each call at once. Row semantics are
// those of the one-row statements: each row is claimed or marked exactly as it would be on its own.
// The two batched statements are tagged SQL (ON CONFLICT ... DO UPDATE ... WHERE over unnest, and an
// UPDATE ... FROM unnest with a value per row), which Prisma's typed API cannot express as one
// statement; the rest uses the typed API.
import type { PrismaClient } from '@app/db';
import { Batcher } from '@app/platform';

export type ClaimResult =
  | { outcome: 'claimed'; attempts: number }
  | { outcome: 'already_sent' }
  /** Another live worker holds a fresh claim; retry after `retryInMs`. */
  | { outcome: 'busy'; retryInMs: number };

export interface DeliveryRow {
  status: string;
  recipient: string;
  attempts: number;
  lastError: string | null;
  smtpMessageId: string | null;
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

const key = (eventId: string, kind: string) => `${eventId}\u0000${kind}`;

export class Deliveries {
  private readonly claims: Batcher<ClaimInput, ClaimResult>;
  private readonly sent: Batcher<SentInput, void>;

  constructor(
    private readonly db: PrismaClient,
    private readonly options: {
      workerId: string;
      claimTimeoutMs: number;
      /** Most rows per statement (default 64). */
      maxBatch?: number;
      /** Statements of one kind running at once (default 2). */
      maxInFlight?: number;
    },
  ) {
    // A failed batch of several is retried one call at a time, so one bad row (or a deadlock
    // between two workers' batches) fails only its own caller.
    const batching = {
      maxBatch: options.maxBatch ?? 64,
      maxInFlight: options.maxInFlight ?? 2,
      retrySingly: true,
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
    const rows = await this.db.$queryRaw<
      Array<{ event_id: string; kind: string; attempts: number }>
    >`
      INSERT INTO notification_deliveries AS d
         (event_id, kind, status, recipient, claimed_at, claimed_by, attempts)
       SELECT i.event_id, i.kind, 'claimed', i.recipient, now(), ${this.options.workerId}, 1
         FROM unnest(${items.map((i) => i.eventId)}::uuid[], ${items.map((i) => i.kind)}::text[],
                     ${items.map((i) => i.recipient)}::text[]) AS i(event_id, kind, recipient)
        ORDER BY i.event_id, i.kind
       ON CONFLICT (event_id, kind) DO UPDATE
         SET status = 'claimed', claimed_at = now(), claimed_by = EXCLUDED.claimed_by,
             recipient = EXCLUDED.recipient, attempts = d.attempts + 1
         WHERE d.status = 'failed'
            OR (d.status = 'claimed'
                AND d.claimed_at < now() - ${this.options.claimTimeoutMs}::int * interval '1 millisecond')
       RETURNING d.event_id::text AS event_id, d.kind, d.attempts`;
    const claimed = new Map(rows.map((r) => [key(r.event_id, r.kind), Number(r.attempts)]));
    const others = items.filter((i) => !claimed.has(key(i.eventId.toLowerCase(), i.kind)));

    // Only events someone else holds (or already sent) need their current state: read it after
    // the INSERT, in a statement of its own, so a row committed meanwhile is seen.
    const current = new Map<string, { status: string; claimedAt: Date }>();
    if (others.length > 0) {
      const found = await this.db.notificationDelivery.findMany({
        where: { OR: others.map((i) => ({ eventId: i.eventId, kind: i.kind })) },
        select: { eventId: true, kind: true, status: true, claimedAt: true },
      });
      for (const r of found) current.set(key(r.eventId.toLowerCase(), r.kind), r);
    }

    return items.map((item): ClaimResult => {
      const k = key(item.eventId.toLowerCase(), item.kind);
      const attempts = claimed.get(k);
      if (attempts !== undefined) return { outcome: 'claimed', attempts };
      const row = current.get(k);
      if (row?.status === 'sent') return { outcome: 'already_sent' };
      // A hint only (the takeover itself is decided by the database clock): bounded either way.
      const age = row ? Date.now() - row.claimedAt.getTime() : 0;
      const retryInMs = Math.max(100, this.options.claimTimeoutMs - age + 100);
      return { outcome: 'busy', retryInMs: Math.min(retryInMs, this.options.claimTimeoutMs + 100) };
    });
  }

  private async markSentBatch(items: SentInput[]): Promise<void[]> {
    await this.db.$executeRaw`
      UPDATE notification_deliveries AS d
         SET status = 'sent', sent_at = now(), smtp_message_id = u.smtp_message_id, last_error = NULL
        FROM unnest(${items.map((i) => i.eventId)}::uuid[], ${items.map((i) => i.kind)}::text[],
                    ${items.map((i) => i.smtpMessageId)}::text[]) AS u(event_id, kind, smtp_message_id)
       WHERE d.event_id = u.event_id AND d.kind = u.kind`;
    return items.map(() => undefined);
  }

  /** Releases the claim with the reason, so the next delivery (or a redrive) may claim again. */
  async markFailed(eventId: string, kind: string, error: string): Promise<void> {
    await this.db.notificationDelivery.updateMany({
      where: { eventId, kind, status: { not: 'sent' } },
      data: { status: 'failed', lastError: error.slice(0, 1000) },
    });
  }

  find(eventId: string, kind: string): Promise<DeliveryRow | null> {
    return this.db.notificationDelivery.findUnique({
      where: { eventId_kind: { eventId, kind } },
      select: {
        status: true,
        recipient: true,
        attempts: true,
        lastError: true,
        smtpMessageId: true,
      },
    });
  }
}
