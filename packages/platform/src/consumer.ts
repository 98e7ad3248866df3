// The JetStream pull-consumer loop every consumer of the system runs on: gets the durable consumer
// (retrying while it is missing or NATS is down), pulls in batches, runs at most `concurrency`
// handlers at once, keeps slow messages alive with working(), and settles each message from what
// its handler returns (ack / nak(delay) / term). A handler that throws is a transient failure,
// nak'ed on the shared backoff schedule: plain nak() ignores the consumer's backoff on 2.9
// (NATS-NOTES.md). stop() stops pulling, lets in-flight handlers finish within a grace period and
// naks the rest, so a redeploy hands them to another replica at once. The settlements of one turn
// of the event loop go out together, in one write to the server.
import type { ConsumerMessages, JetStreamClient, JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '@app/contracts';
import { backoffDelay } from './backoff.js';
import { contextFromHeaders, SpanKind, withSpan } from './spans.js';

export type Settle =
  { kind: 'ack' } | { kind: 'nak'; delayMs: number } | { kind: 'term'; reason: string };

export const settle: {
  ack(): Settle;
  nak(delayMs: number): Settle;
  term(reason: string): Settle;
} = {
  ack: () => ({ kind: 'ack' }),
  nak: (delayMs) => ({ kind: 'nak', delayMs }),
  term: (reason) => ({ kind: 'term', reason }),
};

/**
 * Whether the server understands `+TERM <reason>`: from nats-server 2.10.4 (PR 4697). Older
 * servers ignore the whole reply and redeliver, so the reason must then be left out.
 */
export function supportsTermReason(serverVersion: string | undefined): boolean {
  const match = /^v?(\d+)\.(\d+)\.(\d+)/.exec(serverVersion ?? '');
  if (!match) return false;
  const [major, minor, patch] = match.slice(1).map(Number) as [number, number, number];
  if (major !== 2) return major > 2;
  if (minor !== 10) return minor > 10;
  return patch >= 4;
}

export interface ConsumerLoopOptions {
  nc: NatsConnection;
  js: JetStreamClient;
  stream: string;
  consumer: string;
  log: Logger;
  /** Decides the message's fate; a throw counts as transient: nak(backoffDelay(deliveryCount, backoff)). */
  handle(m: JsMsg): Promise<Settle>;
  /** Handlers running at once. Default 1. */
  concurrency?: number;
  /** The pull batch (max_messages). Default max(1, concurrency * 2). */
  batch?: number;
  /** If set, every in-flight message gets working() this often (one timer for all of them). */
  heartbeatMs?: number;
  /** The nak schedule of a throwing handler. Default 500 ms .. 30 s. */
  backoff?: { baseMs: number; maxMs: number };
  /** Pause before getting the consumer again when it is missing or NATS is down. Default 2000 ms. */
  retryMs?: number;
  /**
   * How long each pull request lives on the server (`expires`; its idle heartbeat is half of it).
   * When the consumer's leader moves to another node of a cluster, the pending pull is lost and
   * the client notices after two missed heartbeats: with the library's 30 s that stalled delivery
   * for 31 s after a leader was killed (the JetStream-cluster scenarios); 5 s bounds it near 5 s,
   * for one small pull request every 5 s while idle. Default 5000 ms (minimum 1000).
   */
  pullExpiresMs?: number;
  /** After each settlement (metrics hooks). */
  onSettled?(m: JsMsg, s: Settle, durationMs: number): void;
  /** Whenever the number of in-flight messages changes. */
  onInFlight?(n: number): void;
  /**
   * Called by stop() once the pull has ended (no message arrives any more), before it waits for
   * the handlers in flight: handlers holding messages they have not started on can give them back
   * now, and their naks reach the server after it stopped sending here.
   */
  onPullStopped?(): void;
}

export interface ConsumerLoop {
  readonly inFlight: number;
  /** Resolves once the loop is pulling; rejects if it is stopped before it ever pulled. */
  consuming(): Promise<void>;
  /** Stops pulling, lets in-flight handlers finish within `graceMs` (default 10 s), naks the rest. */
  stop(graceMs?: number): Promise<void>;
}

const DEFAULT_BACKOFF = { baseMs: 500, maxMs: 30_000 };

export function startConsumerLoop(o: ConsumerLoopOptions): ConsumerLoop {
  const concurrency = o.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError('concurrency must be a positive integer');
  }
  const batch = o.batch ?? Math.max(1, concurrency * 2);
  const backoff = o.backoff ?? DEFAULT_BACKOFF;
  const retryMs = o.retryMs ?? 2000;
  const expires = o.pullExpiresMs ?? 5000;
  const termWithReason = supportsTermReason(o.nc.info?.version);
  const where = { stream: o.stream, consumer: o.consumer };

  const inFlight = new Map<JsMsg, { task: Promise<void>; started: number }>();
  // Messages nak'ed by stop() after the grace period: their handler's late outcome is dropped.
  const abandoned = new Set<JsMsg>();
  let stopping = false;
  let messages: ConsumerMessages | undefined;
  let wakeSlot: (() => void) | undefined;
  let wakeRetry: (() => void) | undefined;

  let markConsuming!: () => void;
  let neverConsumed!: (err: Error) => void;
  const pulling = new Promise<void>((resolve, reject) => {
    markConsuming = resolve;
    neverConsumed = reject;
  });
  pulling.catch(() => undefined);

  const heartbeat =
    o.heartbeatMs === undefined
      ? undefined
      : setInterval(() => {
          for (const m of inFlight.keys()) m.working();
        }, o.heartbeatMs);
  heartbeat?.unref();

  function apply(m: JsMsg, s: Settle): void {
    if (s.kind === 'ack') m.ack();
    else if (s.kind === 'nak') m.nak(s.delayMs);
    else if (termWithReason) m.term(s.reason);
    else m.term();
  }

  // Handlers finish in separate callbacks (a batch of database rows, SMTP replies read in one
  // poll): nats.js writes what is queued once per microtask checkpoint, so settling each at once
  // would be a write, and a wake-up of the server, per message. Queued to the end of the turn
  // instead, they leave in one; stop() sends what is still queued before it returns.
  let settling: Array<{ m: JsMsg; s: Settle; started: number }> = [];
  let settleScheduled = false;

  function settleSoon(m: JsMsg, s: Settle, started: number): void {
    settling.push({ m, s, started });
    if (settleScheduled) return;
    settleScheduled = true;
    setImmediate(settleQueued);
  }

  function settleQueued(): void {
    settleScheduled = false;
    const queued = settling;
    settling = [];
    for (const { m, s, started } of queued) {
      try {
        apply(m, s);
      } catch (err) {
        // A closed connection: the server redelivers the message after ack_wait.
        o.log.warn({ ...where, err, seq: m.info.streamSequence }, 'could not settle a message');
        continue;
      }
      o.onSettled?.(m, s, performance.now() - started);
    }
  }

  function dispatch(m: JsMsg): void {
    const started = performance.now();
    const task = (async () => {
      let outcome: Settle;
      try {
        // One span per delivery, a child of the publisher's span (the message's traceparent).
        outcome = await withSpan(
          `${o.stream} process`,
          () => ({
            kind: SpanKind.CONSUMER,
            parent: contextFromHeaders(m.headers),
            attributes: {
              'messaging.system': 'nats',
              'messaging.operation.type': 'process',
              'messaging.destination.name': m.subject,
              'messaging.consumer.group.name': o.consumer,
              'messaging.nats.stream_sequence': m.info.streamSequence,
              'messaging.nats.delivery_count': m.info.deliveryCount,
            },
          }),
          async (span) => {
            const s = await o.handle(m);
            span?.setAttribute('messaging.nats.settle', s.kind);
            return s;
          },
        );
      } catch (err) {
        const delayMs = backoffDelay(m.info.deliveryCount, backoff);
        o.log.warn(
          {
            ...where,
            err,
            seq: m.info.streamSequence,
            deliveryCount: m.info.deliveryCount,
            traceparent: m.headers?.get('traceparent') || undefined,
            delayMs,
          },
          'message handler failed: nak after backoff',
        );
        outcome = settle.nak(delayMs);
      }
      if (abandoned.delete(m)) return;
      settleSoon(m, outcome, started);
    })().finally(() => {
      inFlight.delete(m);
      o.onInFlight?.(inFlight.size);
      const wake = wakeSlot;
      wakeSlot = undefined;
      wake?.();
    });
    inFlight.set(m, { task, started });
    o.onInFlight?.(inFlight.size);
  }

  async function pull(current: ConsumerMessages): Promise<void> {
    for await (const m of current) {
      while (inFlight.size >= concurrency && !stopping) {
        await new Promise<void>((resolve) => (wakeSlot = resolve));
      }
      // Buffered messages still arrive after close(): hand them back for another replica.
      if (stopping) m.nak();
      else dispatch(m);
    }
  }

  async function run(): Promise<void> {
    while (!stopping) {
      try {
        const consumer = await o.js.consumers.get(o.stream, o.consumer);
        // Abort on a deleted consumer, so this loop logs it and gets the consumer again.
        const current = await consumer.consume({
          max_messages: batch,
          expires,
          abort_on_missing_resource: true,
        });
        messages = current;
        if (stopping) {
          await current.close();
          break;
        }
        o.log.info({ ...where, concurrency, batch }, 'consuming');
        markConsuming();
        await pull(current);
        if (!stopping) o.log.warn(where, 'pull ended; getting the consumer again');
      } catch (err) {
        if (stopping) break;
        if (o.nc.isClosed()) {
          o.log.warn({ ...where, err }, 'NATS connection closed: the consumer loop ends');
          break;
        }
        o.log.warn({ ...where, err, retryInMs: retryMs }, 'consumer unavailable; retrying');
      }
      if (stopping) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, retryMs);
        function done() {
          clearTimeout(timer);
          wakeRetry = undefined;
          resolve();
        }
        wakeRetry = done;
      });
    }
  }

  const running = run();
  let stopped: Promise<void> | undefined;

  async function stop(graceMs = 10_000): Promise<void> {
    stopping = true;
    neverConsumed(new Error(`consumer loop ${o.stream}/${o.consumer} stopped before it consumed`));
    wakeRetry?.();
    wakeSlot?.();
    try {
      await messages?.close();
    } catch {
      // Closing a pull whose connection is already gone may throw; the pull ended with it.
    }
    await running;
    o.onPullStopped?.();
    const pending = [...inFlight.values()].map((f) => f.task);
    if (pending.length > 0) {
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), graceMs);
      });
      const outcome = await Promise.race([
        Promise.allSettled(pending).then(() => 'done' as const),
        graceOver,
      ]);
      clearTimeout(timer);
      settleQueued();
      if (outcome === 'timeout') {
        for (const [m, { started }] of inFlight) {
          abandoned.add(m);
          m.nak();
          o.onSettled?.(m, settle.nak(0), performance.now() - started);
        }
        o.log.warn(
          { ...where, naked: inFlight.size },
          'grace period over: in-flight messages nak-ed',
        );
      }
    }
    settleQueued();
    if (heartbeat) clearInterval(heartbeat);
    o.log.info(where, 'consumer loop stopped');
  }

  return {
    get inFlight() {
      return inFlight.size;
    },
    consuming: () => pulling,
    stop(graceMs) {
      stopped ??= stop(graceMs);
      return stopped;
    },
  };
}
