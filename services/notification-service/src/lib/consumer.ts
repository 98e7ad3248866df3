// The welcome-email handler: for one user.signed_up message, validates, claims the delivery in
// Postgres, renders, sends, marks it sent, and says how the message settles (platform's consumer
// loop pulls, keeps slow messages alive and applies the outcome). Failures follow lib/retry.ts:
// transient ones nak(delay) on the shared backoff schedule, permanent ones term() after recording
// the reason where the dead-letter worker can find it.
// Every message the server lets the process hold is handled as soon as it arrives, and only the
// send waits, for one of `sendSlots` (NOTIFY_CONCURRENCY): so the claims of the messages that
// arrived together go to Postgres in one statement, and the SMTP pool always has the next email
// ready. A slot is held until the email's "sent" mark has committed, so at most `sendSlots` emails
// are ever sent without being recorded (the one window a crash can turn into a resend). A message
// still waiting for a slot when the service stops gives its claim back and is nak-ed, for another
// replica to take at once. (A claim is held while its message waits for a slot: the claim timeout
// must exceed that wait plus the send, as it must exceed a send; the heartbeat keeps the message
// from being redelivered meanwhile.)
// Per-event success lines are debug-level (at hundreds of events/s they would be most of the
// service's CPU and log volume); an info summary of the counts goes out every `summaryMs` instead.
// Failures, retries and terminations stay at warn, one line per event.
import type { JsMsg } from '@nats-io/jetstream';
import { UserSignedUpV1, validate, type Logger } from '@app/contracts';
import { backoffDelay, settle, SpanKind, withSpan, type Settle } from '@app/platform';
import type { Deliveries } from './deliveries.js';
import type { Mailer } from './mailer.js';
import type { NotifyMetrics } from './metrics.js';
import { classifySendError, type Classified } from './retry.js';
import { renderWelcome, WELCOME_KIND } from './welcome.js';

export interface WelcomeHandlerOptions {
  deliveries: Deliveries;
  mailer: Mailer;
  metrics: NotifyMetrics;
  log: Logger;
  mailFrom: string;
  /** Emails being sent (or waiting for their "sent" mark) at once. */
  sendSlots: number;
  /** The nak schedule of a transient failure. */
  backoff: { baseMs: number; maxMs: number };
  /** How often the info-level summary of sent / duplicate / failed counts is logged (default 10 s). */
  summaryMs?: number;
}

interface Counts {
  sent: number;
  duplicate: number;
  busy: number;
  failed: number;
}

const utf8 = new TextDecoder();

/** Parses and validates a message; an error list means it can never succeed. */
export function parseWelcomeEvent(
  data: Uint8Array,
): { ok: true; event: UserSignedUpV1 } | { ok: false; reason: string } {
  let body: unknown;
  try {
    body = JSON.parse(utf8.decode(data));
  } catch {
    return { ok: false, reason: 'invalid_payload: not JSON' };
  }
  const result = validate(UserSignedUpV1, body);
  if (!result.ok) return { ok: false, reason: `invalid_payload: ${result.errors.join('; ')}` };
  return { ok: true, event: result.value };
}

/** A counting semaphore whose waiters are served in arrival order, and all refused once closed. */
export class Slots {
  private free: number;
  private readonly waiting: Array<(granted: boolean) => void> = [];
  private closed = false;

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 1)
      throw new RangeError('size must be a positive integer');
    this.free = size;
  }

  /** Resolves true with a slot (to give back with release()), or false once closed. */
  acquire(): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    if (this.free > 0) {
      this.free--;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.closed ? undefined : this.waiting.shift();
    if (next) next(true);
    else this.free++;
  }

  /** Refuses every waiter and every later acquire(); slots already held are unaffected. */
  close(): void {
    this.closed = true;
    for (const waiter of this.waiting.splice(0)) waiter(false);
  }
}

export class WelcomeHandler {
  private readonly summary: NodeJS.Timeout;
  private counts: Counts = { sent: 0, duplicate: 0, busy: 0, failed: 0 };
  private readonly slots: Slots;
  // Label children resolved once: a lookup by label values per event is measurable at this rate.
  private readonly sentCount;
  private readonly duplicateCount;
  private readonly sendOk;
  private readonly sendFailed;

  constructor(private readonly o: WelcomeHandlerOptions) {
    this.slots = new Slots(o.sendSlots);
    this.sentCount = o.metrics.processed.labels('sent');
    this.duplicateCount = o.metrics.processed.labels('duplicate');
    this.sendOk = o.metrics.sendDuration.labels('sent');
    this.sendFailed = o.metrics.sendDuration.labels('failed');
    this.summary = setInterval(() => this.logSummary(), o.summaryMs ?? 10_000);
    this.summary.unref();
  }

  /**
   * Stops starting sends: a message still waiting for a slot gives its claim back and is nak-ed
   * (sends under way finish). Call before stopping the consumer loop, which waits for them all.
   */
  stopSending(): void {
    this.slots.close();
  }

  /** Stops the periodic summary and logs the last one. */
  close(): void {
    this.stopSending();
    clearInterval(this.summary);
    this.logSummary();
  }

  private logSummary(): void {
    const c = this.counts;
    if (c.sent + c.duplicate + c.busy + c.failed === 0) return;
    this.counts = { sent: 0, duplicate: 0, busy: 0, failed: 0 };
    this.o.log.info({ ...c }, 'welcome emails since last summary');
  }

  readonly handle = async (m: JsMsg): Promise<Settle> => {
    const seq = m.info.streamSequence;
    const deliveryCount = m.info.deliveryCount;
    const traceparent = m.headers?.get('traceparent') || undefined;
    if (deliveryCount > 1) this.o.metrics.redelivered.inc();

    const parsed = parseWelcomeEvent(m.data);
    if (!parsed.ok) {
      this.o.metrics.failed.inc({ class: 'invalid_payload' });
      this.counts.failed++;
      this.o.log.warn({ seq, traceparent, reason: parsed.reason }, 'invalid event: terminated');
      return settle.term(parsed.reason.slice(0, 200));
    }
    const event = parsed.event;
    const logCtx = () => ({ eventId: event.id, seq, deliveryCount, traceparent });

    let claimed = false;
    let slot = false;
    try {
      const claim = await withSpan(
        'delivery claim',
        () => ({ attributes: { 'messaging.message.id': event.id, 'notify.kind': WELCOME_KIND } }),
        async (span) => {
          const c = await this.o.deliveries.claim(event.id, WELCOME_KIND, event.data.email);
          span?.setAttribute('notify.claim', c.outcome);
          return c;
        },
      );
      if (claim.outcome === 'already_sent') {
        this.duplicateCount.inc();
        this.counts.duplicate++;
        this.o.log.debug(logCtx(), 'already sent: acked without sending');
        return settle.ack();
      }
      if (claim.outcome === 'busy') {
        this.counts.busy++;
        this.o.log.debug(
          { ...logCtx(), retryInMs: claim.retryInMs },
          'claimed elsewhere: retry later',
        );
        return settle.nak(claim.retryInMs);
      }
      claimed = true;
      slot = await this.slots.acquire();
      if (!slot) {
        // Stopping: nothing was sent, so the claim goes back and the message to the server.
        await this.o.deliveries.release(event.id, WELCOME_KIND);
        return settle.nak(0);
      }
      const email = renderWelcome(event, { from: this.o.mailFrom, traceparent });
      const started = performance.now();
      let info;
      try {
        info = await withSpan(
          'smtp send',
          () => ({
            kind: SpanKind.CLIENT,
            attributes: {
              'email.message_id': email.messageId,
              'notify.mailer': this.o.mailer.kind,
            },
          }),
          () => this.o.mailer.send(email),
        );
        this.sendOk.observe((performance.now() - started) / 1000);
      } catch (error) {
        this.sendFailed.observe((performance.now() - started) / 1000);
        throw error;
      }
      await this.o.deliveries.markSent(event.id, WELCOME_KIND, email.messageId);
      this.sentCount.inc();
      this.counts.sent++;
      // The local transport (development) names the file to open: worth a line each time.
      if (info.path) this.o.log.info({ ...logCtx(), path: info.path }, 'welcome email sent');
      else this.o.log.debug(logCtx(), 'welcome email sent');
      return settle.ack();
    } catch (error) {
      return this.fail(m, classifySendError(error), claimed ? event.id : undefined, logCtx());
    } finally {
      if (slot) this.slots.release();
    }
  };

  private async fail(
    m: JsMsg,
    c: Classified,
    eventId: string | undefined,
    logCtx: Record<string, unknown>,
  ): Promise<Settle> {
    this.o.metrics.failed.inc({ class: c.failureClass });
    this.counts.failed++;
    const reason = `${c.failureClass}: ${c.reason}`;
    if (eventId) {
      try {
        await this.o.deliveries.markFailed(eventId, WELCOME_KIND, reason);
      } catch (error) {
        // Without the row the claim simply expires; the retry below still happens.
        this.o.log.error({ ...logCtx, err: error }, 'could not record the failure');
      }
    }
    if (!c.retry) {
      this.o.log.warn({ ...logCtx, reason }, 'send failed permanently: terminated');
      return settle.term(reason.slice(0, 200));
    }
    // Jittered, so that a burst of failures does not come back in lockstep.
    const delayMs = backoffDelay(m.info.deliveryCount, { ...this.o.backoff, jitter: 0.5 });
    this.o.log.warn({ ...logCtx, reason, delayMs }, 'send failed: retry after backoff');
    return settle.nak(delayMs);
  }
}
