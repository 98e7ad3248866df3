// The dead-letter worker: reads the MAX_DELIVERIES / MSG_TERMINATED advisories captured in
// USERS_ADVISORIES, fetches each original from USERS by stream sequence and republishes it byte for
// byte to DEADLETTER, with Dlq-* headers saying where it came from and why. Its own Nats-Msg-Id
// (`<stream>:<seq>:<consumer>`) makes a re-processed advisory store the dead letter once. An
// original already gone is still dead-lettered, saying so, never silently dropped.
import type {
  ConsumerMessages,
  JetStreamClient,
  JetStreamManager,
  JsMsg,
} from '@nats-io/jetstream';
import { headers as natsHeaders, type MsgHdrs } from '@nats-io/transport-node';
import type { Names } from '@app/contracts';
import { parseWelcomeEvent, type Log } from './consumer.js';
import type { Deliveries } from './deliveries.js';
import type { NotifyMetrics } from './metrics.js';
import { backoffDelay } from './retry.js';
import { WELCOME_KIND } from './welcome.js';

export const DLQ = {
  originalSubject: 'Dlq-Original-Subject',
  originalStream: 'Dlq-Original-Stream',
  originalSeq: 'Dlq-Original-Seq',
  originalTime: 'Dlq-Original-Time',
  consumer: 'Dlq-Consumer',
  deliveries: 'Dlq-Deliveries',
  reason: 'Dlq-Reason',
  advisory: 'Dlq-Advisory',
} as const;

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
  js: JetStreamClient;
  jsm: JetStreamManager;
  names: Names;
  deliveries: Deliveries;
  metrics: NotifyMetrics;
  log: Log;
}

export class DeadLetterWorker {
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;

  constructor(private readonly o: DeadLetterWorkerOptions) {}

  async start(): Promise<void> {
    const consumer = await this.o.js.consumers.get(
      this.o.names.streams.advisories,
      this.o.names.consumers.deadletterWorker,
    );
    this.messages = await consumer.consume({ max_messages: 16 });
    const messages = this.messages;
    this.loop = (async () => {
      for await (const m of messages) await this.handle(m);
    })().catch((error: unknown) => {
      this.o.log.error({ err: error }, 'dead-letter pull loop stopped');
    });
  }

  async stop(): Promise<void> {
    await this.messages?.close();
    await this.loop;
  }

  /** The dead-letter subject of a consumer's messages. */
  subjectFor(consumer: string): string {
    if (consumer === this.o.names.consumers.welcomeEmail) {
      return this.o.names.subjects.deadletterWelcomeEmail;
    }
    const p = this.o.names.namespace ? `${this.o.names.namespace}.` : '';
    return `${p}deadletter.${consumer.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  }

  private async handle(m: JsMsg): Promise<void> {
    const advisory = parseAdvisory(m.data);
    if (!advisory) {
      this.o.log.error({ seq: m.info.streamSequence }, 'unreadable advisory: terminated');
      m.term();
      return;
    }
    try {
      await this.deadLetter(advisory);
      m.ack();
    } catch (error) {
      const delay = backoffDelay(m.info.deliveryCount, { baseMs: 500, maxMs: 30_000 });
      this.o.log.error({ err: error, advisory, delayMs: delay }, 'dead-lettering failed: retry');
      m.nak(delay);
    }
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
      h.set(DLQ.originalSubject, original.subject);
      h.set(DLQ.originalTime, original.time.toISOString());
      reason = await this.reasonFor(advisory, data, terminated);
    } else {
      reason = `original_missing: stream ${advisory.stream} no longer holds seq ${advisory.stream_seq} (${terminated ? 'terminated' : 'max deliveries'})`;
    }
    h.set(DLQ.originalStream, advisory.stream);
    h.set(DLQ.originalSeq, String(advisory.stream_seq));
    h.set(DLQ.consumer, advisory.consumer);
    h.set(DLQ.deliveries, String(advisory.deliveries ?? 0));
    h.set(DLQ.reason, oneLine(reason));
    h.set(DLQ.advisory, terminated ? 'terminated' : 'max_deliveries');

    const ack = await this.o.js.publish(this.subjectFor(advisory.consumer), data, {
      headers: h,
      msgID: `${advisory.stream}:${advisory.stream_seq}:${advisory.consumer}`,
    });
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
    if (row?.last_error) return `${prefix}${row.last_error}`;
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
