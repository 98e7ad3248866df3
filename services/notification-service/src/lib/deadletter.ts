// The dead-letter worker: reads the MAX_DELIVERIES / MSG_TERMINATED advisories captured in
// USERS_ADVISORIES, fetches each original from USERS by stream sequence and republishes it byte for
// byte to DEADLETTER, with Dlq-* headers saying where it came from and why. Its own Nats-Msg-Id
// (`<stream>:<seq>:<consumer>`) makes a re-processed advisory store the dead letter once. An
// original already gone is still dead-lettered, saying so, never silently dropped.
import type { JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import { headers as natsHeaders, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import { DLQ_HEADERS, type Logger, type Names } from '@app/contracts';
import {
  activeSpanLink,
  contextFromHeaders,
  settle,
  SpanKind,
  startConsumerLoop,
  withSpan,
  type ConsumerLoop,
  type Settle,
} from '@app/platform';
import { parseWelcomeEvent } from './consumer.js';
import type { Deliveries } from './deliveries.js';
import type { NotifyMetrics } from './metrics.js';
import { WELCOME_KIND } from './welcome.js';

export interface Advisory {
  type: string;
  stream: string;
  consumer: string;
  stream_seq: number;
  deliveries?: number;
}

export function parseAdvisory(data: Uint8Array): Advisory | undefined {
  try {
    const a = JSON.parse(new TextDecoder().decode(data)) as Partial<Advisory>;
    if (typeof a.stream !== 'string' || typeof a.consumer !== 'string') return undefined;
    if (typeof a.stream_seq !== 'number' || typeof a.type !== 'string') return undefined;
    return a as Advisory;
  } catch {
    return undefined;
  }
}

/** Header values are one line: a reason quoting an SMTP reply must not break the header block. */
function oneLine(value: string): string {
  return value.replace(/[\r\n]+/g, ' ').slice(0, 500);
}

/** The label a reason is counted under: the part before the first colon. */
export function reasonClass(reason: string): string {
  return /^[a-z_]+/.exec(reason)?.[0] ?? 'unknown';
}

export interface DeadLetterWorkerOptions {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  names: Names;
  deliveries: Deliveries;
  metrics: NotifyMetrics;
  log: Logger;
  /** Pause before asking again for a consumer that is not provisioned yet. */
  retryMs?: number;
}

export class DeadLetterWorker {
  private loop: ConsumerLoop | undefined;

  constructor(private readonly o: DeadLetterWorkerOptions) {}

  /** Starts pulling advisories (once the consumer exists; platform's loop retries until then). */
  start(): void {
    this.loop ??= startConsumerLoop({
      nc: this.o.nc,
      js: this.o.js,
      stream: this.o.names.streams.advisories,
      consumer: this.o.names.consumers.deadletterWorker,
      log: this.o.log,
      handle: (m) => this.handle(m),
      batch: 16,
      ...(this.o.retryMs === undefined ? {} : { retryMs: this.o.retryMs }),
    });
  }

  /** Resolves once the worker is pulling advisories. */
  consuming(): Promise<void> {
    if (!this.loop) return Promise.reject(new Error('dead-letter worker not started'));
    return this.loop.consuming();
  }

  async stop(graceMs?: number): Promise<void> {
    await this.loop?.stop(graceMs);
  }

  /** The dead-letter subject of a consumer's messages. */
  subjectFor(consumer: string): string {
    if (consumer === this.o.names.consumers.welcomeEmail) {
      return this.o.names.subjects.deadletterWelcomeEmail;
    }
    const p = this.o.names.namespace ? `${this.o.names.namespace}.` : '';
    return `${p}deadletter.${consumer.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  }

  /** A throw is retried by the loop (nak on the shared backoff schedule). */
  private async handle(m: JsMsg): Promise<Settle> {
    const advisory = parseAdvisory(m.data);
    if (!advisory) {
      this.o.log.error({ seq: m.info.streamSequence }, 'unreadable advisory: terminated');
      return settle.term('unreadable advisory');
    }
    await this.deadLetter(advisory);
    return settle.ack();
  }

  /** Copies the original named by one advisory into DEADLETTER (idempotent). */
  async deadLetter(advisory: Advisory): Promise<{ duplicate: boolean; reason: string }> {
    const terminated = advisory.type.endsWith('.terminated');
    const original = await this.o.jsm.streams.getMessage(advisory.stream, {
      seq: advisory.stream_seq,
    });
    const h = natsHeaders();
    let data: Uint8Array = new Uint8Array(0);
    let reason: string;
    if (original) {
      data = original.data;
      copyHeaders(original.header, h);
      h.set(DLQ_HEADERS.originalSubject, original.subject);
      h.set(DLQ_HEADERS.originalTime, original.time.toISOString());
      reason = await this.reasonFor(advisory, data, terminated);
    } else {
      reason = `original_missing: stream ${advisory.stream} no longer holds seq ${advisory.stream_seq} (${terminated ? 'terminated' : 'max deliveries'})`;
    }
    h.set(DLQ_HEADERS.originalStream, advisory.stream);
    h.set(DLQ_HEADERS.originalSeq, String(advisory.stream_seq));
    h.set(DLQ_HEADERS.consumer, advisory.consumer);
    h.set(DLQ_HEADERS.deliveries, String(advisory.deliveries ?? 0));
    h.set(DLQ_HEADERS.reason, oneLine(reason));
    h.set(DLQ_HEADERS.advisory, terminated ? 'terminated' : 'max_deliveries');

    // In the original's trace (its copied traceparent), linked to the advisory that caused it.
    const ack = await withSpan(
      'deadletter copy',
      {
        kind: SpanKind.PRODUCER,
        parent: contextFromHeaders(original?.header),
        links: activeSpanLink(),
        attributes: {
          'messaging.system': 'nats',
          'messaging.destination.name': this.subjectFor(advisory.consumer),
          'deadletter.original_stream': advisory.stream,
          'deadletter.original_seq': advisory.stream_seq,
          'deadletter.consumer': advisory.consumer,
          'deadletter.advisory': terminated ? 'terminated' : 'max_deliveries',
        },
      },
      () =>
        this.o.js.publish(this.subjectFor(advisory.consumer), data, {
          headers: h,
          msgID: `${advisory.stream}:${advisory.stream_seq}:${advisory.consumer}`,
        }),
    );
    if (!ack.duplicate) this.o.metrics.deadLettered.inc({ reason: reasonClass(reason) });
    this.o.log.warn(
      {
        stream: advisory.stream,
        streamSeq: advisory.stream_seq,
        consumer: advisory.consumer,
        deadletterSeq: ack.seq,
        duplicate: ack.duplicate,
        reason,
        traceparent: h.get('traceparent') || undefined,
      },
      'message dead-lettered',
    );
    return { duplicate: ack.duplicate, reason };
  }

  /** The server drops term() reasons on 2.9: rebuild the reason from what the consumer recorded. */
  private async reasonFor(advisory: Advisory, data: Uint8Array, terminated: boolean) {
    const prefix = terminated ? '' : 'max_deliveries: ';
    if (advisory.consumer !== this.o.names.consumers.welcomeEmail) {
      return terminated ? 'terminated' : `max_deliveries: ${advisory.deliveries ?? '?'} deliveries`;
    }
    const parsed = parseWelcomeEvent(data);
    if (!parsed.ok) return `${prefix}${parsed.reason}`;
    const row = await this.o.deliveries.find(parsed.event.id, WELCOME_KIND);
    if (row?.lastError) return `${prefix}${row.lastError}`;
    return terminated ? 'terminated' : `max_deliveries: ${advisory.deliveries ?? '?'} deliveries`;
  }
}

/** Copies every header except the server's Nats-* ones (a copied Nats-Msg-Id would dedupe). */
export function copyHeaders(
  from: MsgHdrs | undefined,
  to: MsgHdrs,
  skip: (k: string) => boolean = () => false,
) {
  if (!from) return;
  for (const [key, values] of from) {
    if (/^nats-/i.test(key) || skip(key)) continue;
    for (const value of values) to.append(key, value);
  }
}
