// The delivery ledger in Postgres (notification_deliveries, unique per event id + kind): a worker
// claims an event before sending, so a redelivery after a crash does not send twice, and a claim
// left by a worker that died mid-send can be taken over once it is older than the claim timeout.
// The last error lives here too: the server drops term() reasons on 2.9, so the dead-letter worker
// reads the reason from this table.
// Claims and "sent" marks are group-committed (platform's Batcher) into one statement that does
// both: calls made while the previous statement runs wait and go together in the next one, so
// under load one round trip (and one commit) serves many events, and an idle worker still runs each
// call at once. One statement runs at a time by default: the calls that queue behind it are what
// make the next one big, and each statement costs the client CPU (and a wake-up of Postgres) that
// the sender needs too. Row semantics are those of the one-row statements: each row is claimed or
// marked exactly as it would be on its own (an event both marked and claimed, or claimed twice,
// in one batch has its later claim go in a statement of its own, after). The batched statements
// are tagged SQL (data-modifying CTEs over unnest: ON CONFLICT ... DO UPDATE ... WHERE, UPDATE /
// DELETE ... FROM with a value per row), which Prisma's typed API cannot express as one statement;
// the rest uses the typed API.
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
  op: 'claim';
  eventId: string;
  kind: string;
  recipient: string;
}

interface SentInput {
  op: 'mark_sent';
  eventId: string;
  kind: string;
  smtpMessageId: string;
}

type LedgerInput = ClaimInput | SentInput;

interface KeyInput {
  eventId: string;
  kind: string;
}

/** What `onBatch` is told for each statement: its claims and its "sent" marks, or its releases. */
export type LedgerBatch = { claims: number; marks: number } | { releases: number };

const key = (eventId: string, kind: string) => `${eventId.toLowerCase()}\u0000${kind}`;

export class Deliveries {
  private readonly ledger: Batcher<LedgerInput, ClaimResult | undefined>;
  private readonly releases: Batcher<KeyInput, void>;

  constructor(
    private readonly db: PrismaClient,
    private readonly options: {
      workerId: string;
      claimTimeoutMs: number;
      /** Most rows per statement (default 128). */
      maxBatch?: number;
      /** Statements running at once (default 1). */
      maxInFlight?: number;
      /** Called for every statement (metrics). */
      onBatch?: (batch: LedgerBatch) => void;
    },
  ) {
    // A failed batch of several is retried one call at a time, so one bad row (or a deadlock
    // between two workers' batches) fails only its own caller.
    const batching = {
      maxBatch: options.maxBatch ?? 128,
      maxInFlight: options.maxInFlight ?? 1,
      retrySingly: true,
    };
    this.ledger = new Batcher((items) => this.ledgerBatch(items), batching);
    this.releases = new Batcher((items) => this.releaseBatch(items), batching);
  }

  claim(eventId: string, kind: string, recipient: string): Promise<ClaimResult> {
    return this.ledger.submit({ op: 'claim', eventId, kind, recipient }) as Promise<ClaimResult>;
  }

  async markSent(eventId: string, kind: string, smtpMessageId: string): Promise<void> {
    await this.ledger.submit({ op: 'mark_sent', eventId, kind, smtpMessageId });
  }

  /**
   * Gives back a claim this worker holds and never sent under (a stopping worker's messages that
   * were still waiting to be sent), leaving the row as it was before the claim: gone if this was
   * the first, else `failed` with its attempts and last error as they were. The next delivery
   * claims it at once instead of waiting for the claim timeout.
   */
  release(eventId: string, kind: string): Promise<void> {
    return this.releases.submit({ eventId, kind });
  }

  private async ledgerBatch(items: LedgerInput[]): Promise<Array<ClaimResult | undefined>> {
    // One statement may not touch a row twice (ON CONFLICT DO UPDATE refuses, and two parts of
    // one statement updating a row would each see it unchanged): a call on an event already in the
    // batch goes in a later statement, after this one has settled, as sequential calls would.
    const seen = new Set<string>();
    const now: number[] = [];
    const later: number[] = [];
    items.forEach((item, i) => {
      const k = key(item.eventId, item.kind);
      if (seen.has(k)) later.push(i);
      else {
        seen.add(k);
        now.push(i);
      }
    });
    const results = new Array<ClaimResult | undefined>(items.length);
    const claims: Array<{ at: number; item: ClaimInput }> = [];
    const marks: SentInput[] = [];
    for (const i of now) {
      const item = items[i] as LedgerInput;
      if (item.op === 'claim') claims.push({ at: i, item });
      else marks.push(item);
    }
    const claimed = await this.claimAndMark(
      claims.map((c) => c.item),
      marks,
    );
    claims.forEach((c, j) => (results[c.at] = claimed[j]));
    if (later.length > 0) {
      const again = await this.ledgerBatch(later.map((i) => items[i] as LedgerInput));
      later.forEach((i, j) => (results[i] = again[j]));
    }
    return results;
  }

  /** One statement: marks `marks` sent and claims `claims` (each distinct, none among the marks). */
  private async claimAndMark(claims: ClaimInput[], marks: SentInput[]): Promise<ClaimResult[]> {
    this.options.onBatch?.({ claims: claims.length, marks: marks.length });
    // Rows are claimed in key order, so two workers' overlapping batches lock in the same order.
    const rows = await this.db.$queryRaw<
      Array<{ event_id: string; kind: string; attempts: number }>
    >`
      WITH marked AS (
        UPDATE notification_deliveries AS d
           SET status = 'sent', sent_at = now(), smtp_message_id = u.smtp_message_id,
               last_error = NULL
          FROM unnest(${marks.map((m) => m.eventId)}::uuid[], ${marks.map((m) => m.kind)}::text[],
                      ${marks.map((m) => m.smtpMessageId)}::text[])
               AS u(event_id, kind, smtp_message_id)
         WHERE d.event_id = u.event_id AND d.kind = u.kind
      )
      INSERT INTO notification_deliveries AS d
         (event_id, kind, status, recipient, claimed_at, claimed_by, attempts)
       SELECT i.event_id, i.kind, 'claimed', i.recipient, now(), ${this.options.workerId}, 1
         FROM unnest(${claims.map((i) => i.eventId)}::uuid[], ${claims.map((i) => i.kind)}::text[],
                     ${claims.map((i) => i.recipient)}::text[]) AS i(event_id, kind, recipient)
        ORDER BY i.event_id, i.kind
       ON CONFLICT (event_id, kind) DO UPDATE
         SET status = 'claimed', claimed_at = now(), claimed_by = EXCLUDED.claimed_by,
             recipient = EXCLUDED.recipient, attempts = d.attempts + 1
         WHERE d.status = 'failed'
            OR (d.status = 'claimed'
                AND d.claimed_at < now() - ${this.options.claimTimeoutMs}::int * interval '1 millisecond')
       RETURNING d.event_id::text AS event_id, d.kind, d.attempts`;
    if (claims.length === 0) return [];
    const claimed = new Map(rows.map((r) => [key(r.event_id, r.kind), Number(r.attempts)]));
    const others = claims.filter((i) => !claimed.has(key(i.eventId, i.kind)));

    // Only events someone else holds (or already sent) need their current state: read it after
    // the INSERT, in a statement of its own, so a row committed meanwhile is seen.
    const current = new Map<string, { status: string; claimedAt: Date }>();
    if (others.length > 0) {
      const found = await this.db.notificationDelivery.findMany({
        where: { OR: others.map((i) => ({ eventId: i.eventId, kind: i.kind })) },
        select: { eventId: true, kind: true, status: true, claimedAt: true },
      });
      for (const r of found) current.set(key(r.eventId, r.kind), r);
    }

    return claims.map((item): ClaimResult => {
      const k = key(item.eventId, item.kind);
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

  private async releaseBatch(items: KeyInput[]): Promise<void[]> {
    this.options.onBatch?.({ releases: items.length });
    await this.db.$executeRaw`
      WITH r AS (
        SELECT * FROM unnest(${items.map((i) => i.eventId)}::uuid[],
                             ${items.map((i) => i.kind)}::text[]) AS r(event_id, kind)
      ), first_claims AS (
        DELETE FROM notification_deliveries AS d USING r
         WHERE d.event_id = r.event_id AND d.kind = r.kind AND d.status = 'claimed'
           AND d.claimed_by = ${this.options.workerId} AND d.attempts = 1
      )
      UPDATE notification_deliveries AS d SET status = 'failed', attempts = d.attempts - 1
        FROM r
       WHERE d.event_id = r.event_id AND d.kind = r.kind AND d.status = 'claimed'
         AND d.claimed_by = ${this.options.workerId} AND d.attempts > 1`;
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
