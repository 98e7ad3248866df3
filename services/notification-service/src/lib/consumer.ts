// The welcome-email consumer: pulls user.signed_up from the durable `welcome-email` consumer and,
// for each event, validates, claims the delivery in Postgres, sends, marks it sent and acks. The
// server bounds what is in flight (max_ack_pending); this process additionally bounds concurrent
// handlers, so memory stays flat however long the backlog. Failures follow lib/retry.ts: transient
// ones nak(delay) on an exponential schedule (plain nak() ignores backoff on 2.9), permanent ones
// term() after recording the reason where the dead-letter worker can find it.
// Per-event success lines are debug-level (at hundreds of events/s they would be most of the
// service's CPU and log volume); an info summary of the counts goes out every `summaryMs` instead.
// Failures, retries and terminations stay at warn, one line per event.
import type { ConsumerMessages, JetStreamClient, JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { UserSignedUpV1, validate, type Names } from '@app/contracts';
import type { Deliveries } from './deliveries.js';
import type { Mailer } from './mailer.js';
import type { NotifyMetrics } from './metrics.js';
import { backoffDelay, classifySendError, type Classified } from './retry.js';
import { renderWelcome, WELCOME_KIND } from './welcome.js';

export interface Log {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface ConsumerOptions {
  nc: NatsConnection;
  js: JetStreamClient;
  names: Names;
  deliveries: Deliveries;
  mailer: Mailer;
  metrics: NotifyMetrics;
  log: Log;
  mailFrom: string;
  concurrency: number;
  maxAckPending: number;
  ackWaitMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** How often the info-level summary of sent / duplicate / failed counts is logged (default 10 s). */
  summaryMs?: number;
}

interface Counts {
  sent: number;
  duplicate: number;
  busy: number;
  failed: number;
}

/** `term(reason)` is ignored as a whole by servers before 2.10 (NATS-NOTES.md): check first. */
export function supportsTermReason(version: string | undefined): boolean {
  const [major = 0, minor = 0] = (version ?? '0.0').split('.').map((p) => Number.parseInt(p, 10));
  return major > 2 || (major === 2 && minor >= 10);
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

export class WelcomeConsumer {
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private readonly inFlight = new Map<JsMsg, Promise<void>>();
  private slotFreed: (() => void) | undefined;
  private stopping = false;
  private readonly termWithReason: boolean;
  private heartbeat: NodeJS.Timeout | undefined;
  private summary: NodeJS.Timeout | undefined;
  private counts: Counts = { sent: 0, duplicate: 0, busy: 0, failed: 0 };

  constructor(private readonly o: ConsumerOptions) {
    this.termWithReason = supportsTermReason(o.nc.info?.version);
  }

  async start(): Promise<void> {
    const consumer = await this.o.js.consumers.get(
      this.o.names.streams.users,
      this.o.names.consumers.welcomeEmail,
    );
    // The pull batch never asks for more than the server would let us hold anyway.
    const batch = Math.max(1, Math.min(this.o.maxAckPending, this.o.concurrency * 2));
    this.messages = await consumer.consume({ max_messages: batch });
    // One timer for every in-flight event (not one per event): a slow send must not be
    // redelivered to another worker while it is still running.
    this.heartbeat = setInterval(
      () => {
        for (const m of this.inFlight.keys()) m.working();
      },
      Math.max(500, this.o.ackWaitMs / 3),
    );
    this.heartbeat.unref();
    this.summary = setInterval(() => this.logSummary(), this.o.summaryMs ?? 10_000);
    this.summary.unref();
    this.loop = this.run(this.messages).catch((error: unknown) => {
      // The pull loop only ends in error if the consumer vanished: say so loudly, readiness stays.
      this.o.log.error({ err: error }, 'welcome-email pull loop stopped');
    });
  }

  private async run(messages: ConsumerMessages): Promise<void> {
    for await (const m of messages) {
      while (this.inFlight.size >= this.o.concurrency && !this.stopping) {
        await new Promise<void>((resolve) => (this.slotFreed = resolve));
      }
      if (this.stopping) {
        m.nak();
        continue;
      }
      const task = this.handle(m).finally(() => {
        this.inFlight.delete(m);
        this.o.metrics.inFlight.set(this.inFlight.size);
        const wake = this.slotFreed;
        this.slotFreed = undefined;
        wake?.();
      });
      this.inFlight.set(m, task);
      this.o.metrics.inFlight.set(this.inFlight.size);
    }
  }

  /** Stops pulling, lets in-flight sends finish within `graceMs`, then naks what is left. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    await this.messages?.close();
    this.slotFreed?.();
    const pending = [...this.inFlight.entries()];
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), graceMs);
    });
    const outcome = await Promise.race([
      Promise.allSettled(pending.map(([, p]) => p)).then(() => 'done' as const),
      timedOut,
    ]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      for (const [m] of this.inFlight) m.nak();
      this.o.log.warn({ naked: this.inFlight.size }, 'grace period over: in-flight events nak-ed');
    }
    await this.loop;
    clearInterval(this.heartbeat);
    clearInterval(this.summary);
    this.logSummary();
  }

  private logSummary(): void {
    const c = this.counts;
    if (c.sent + c.duplicate + c.busy + c.failed === 0) return;
    this.counts = { sent: 0, duplicate: 0, busy: 0, failed: 0 };
    this.o.log.info({ ...c, inFlight: this.inFlight.size }, 'welcome emails since last summary');
  }

  private async handle(m: JsMsg): Promise<void> {
    const seq = m.info.streamSequence;
    const deliveryCount = m.info.deliveryCount;
    const traceparent = m.headers?.get('traceparent') || undefined;
    if (deliveryCount > 1) this.o.metrics.redelivered.inc();

    const parsed = parseWelcomeEvent(m.data);
    if (!parsed.ok) {
      this.o.metrics.failed.inc({ class: 'invalid_payload' });
      this.counts.failed++;
      this.o.log.warn({ seq, traceparent, reason: parsed.reason }, 'invalid event: terminated');
      this.term(m, parsed.reason);
      return;
    }
    const event = parsed.event;
    const logCtx = { eventId: event.id, seq, deliveryCount, traceparent };

    let claimed = false;
    try {
      const claim = await this.o.deliveries.claim(event.id, WELCOME_KIND, event.data.email);
      if (claim.outcome === 'already_sent') {
        this.o.metrics.processed.inc({ outcome: 'duplicate' });
        this.counts.duplicate++;
        this.o.log.debug(logCtx, 'already sent: acked without sending');
        m.ack();
        return;
      }
      if (claim.outcome === 'busy') {
        this.counts.busy++;
        this.o.log.debug(
          { ...logCtx, retryInMs: claim.retryInMs },
          'claimed elsewhere: retry later',
        );
        m.nak(claim.retryInMs);
        return;
      }
      claimed = true;
      const email = renderWelcome(event, { from: this.o.mailFrom, traceparent });
      const end = this.o.metrics.sendDuration.startTimer();
      let info;
      try {
        info = await this.o.mailer.send(email);
        end({ outcome: 'sent' });
      } catch (error) {
        end({ outcome: 'failed' });
        throw error;
      }
      await this.o.deliveries.markSent(event.id, WELCOME_KIND, email.messageId);
      m.ack();
      this.o.metrics.processed.inc({ outcome: 'sent' });
      this.counts.sent++;
      // The local transport (development) names the file to open: worth a line each time.
      if (info.path) this.o.log.info({ ...logCtx, path: info.path }, 'welcome email sent');
      else this.o.log.debug(logCtx, 'welcome email sent');
    } catch (error) {
      const c = classifySendError(error);
      await this.fail(m, c, claimed ? event.id : undefined, logCtx);
    }
  }

  private async fail(
    m: JsMsg,
    c: Classified,
    eventId: string | undefined,
    logCtx: Record<string, unknown>,
  ): Promise<void> {
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
    if (c.retry) {
      const delay = backoffDelay(m.info.deliveryCount, {
        baseMs: this.o.backoffBaseMs,
        maxMs: this.o.backoffMaxMs,
      });
      this.o.log.warn({ ...logCtx, reason, delayMs: delay }, 'send failed: retry after backoff');
      m.nak(delay);
    } else {
      this.o.log.warn({ ...logCtx, reason }, 'send failed permanently: terminated');
      this.term(m, reason);
    }
  }

  private term(m: JsMsg, reason: string): void {
    if (this.termWithReason) m.term(reason.slice(0, 200));
    else m.term();
  }
}
