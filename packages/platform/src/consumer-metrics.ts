// What an alert needs to know about a JetStream consumer, read from the server at scrape time: its
// lag (num_pending), the messages delivered and not yet acknowledged, and the max_ack_pending they
// are bounded by. A scrape asks the server once per consumer (one `CONSUMER.INFO`, bounded by a
// timeout); while NATS is down, or the consumer is not provisioned yet, its series are absent
// rather than stale, and `jetstream_consumer_info_failures_total` counts why.
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge } from 'prom-client';
import { withTimeout } from './util.js';

export interface WatchedConsumer {
  stream: string;
  consumer: string;
}

const INFO_TIMEOUT_MS = 1000;

/** Exposes the JetStream state of `consumers` on the app's `/metrics` (needs the nats plugin). */
export function consumerMetrics(app: FastifyInstance, consumers: readonly WatchedConsumer[]): void {
  const registers = [app.metrics.registry];
  const labelNames = ['stream', 'consumer'] as const;
  // prom-client awaits each metric's collect() in one scrape: the first call reads every consumer
  // for the four metrics, the others wait on the same reading.
  let reading: Promise<void> | undefined;
  const collect = (): Promise<void> => {
    reading ??= Promise.all(consumers.map(read)).then(() => {
      reading = undefined;
    });
    return reading;
  };
  const failures = new Counter({
    name: 'jetstream_consumer_info_failures_total',
    help: 'Scrapes that could not read a consumer from the JetStream server',
    labelNames,
    registers,
    collect,
  });
  const gauge = (name: string, help: string): Gauge<'stream' | 'consumer'> =>
    new Gauge({ name, help, labelNames, registers, collect });
  const pending = gauge(
    'jetstream_consumer_pending_messages',
    'Messages of the stream not yet delivered to the consumer (num_pending: its lag)',
  );
  const ackPending = gauge(
    'jetstream_consumer_ack_pending_messages',
    'Messages delivered to the consumer and not yet acknowledged (num_ack_pending)',
  );
  const maxAckPending = gauge(
    'jetstream_consumer_max_ack_pending',
    "The consumer's max_ack_pending: the server delivers no more while this many wait",
  );
  const gauges = [pending, ackPending, maxAckPending];
  async function read({ stream, consumer }: WatchedConsumer): Promise<void> {
    const labels = { stream, consumer };
    try {
      const info = await withTimeout(
        app.nats.jsm.consumers.info(stream, consumer),
        INFO_TIMEOUT_MS,
        `consumer info ${stream}/${consumer}`,
      );
      pending.set(labels, info.num_pending);
      ackPending.set(labels, info.num_ack_pending);
      maxAckPending.set(labels, info.config.max_ack_pending ?? -1);
    } catch {
      for (const gauge of gauges) gauge.remove(labels);
      failures.inc(labels);
    }
  }
  for (const c of consumers) failures.inc(c, 0);
}
