// The relay's Prometheus metrics, registered on the caller's registry (one per app, so two apps in
// one process do not clash). A second relay on the same registry reuses the same metric objects.
import { Counter, Gauge, Registry, type Metric } from 'prom-client';

export interface RelayMetrics {
  backlog: Gauge;
  oldestAge: Gauge;
  published: Counter<'duplicate'>;
  failures: Counter;
}

function reuse<M extends Metric>(registry: Registry, name: string, make: () => M): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? make();
}

export function relayMetrics(
  registry: Registry,
  refresh: () => Promise<{ count: number; oldestAgeMs: number }>,
): RelayMetrics {
  // The gauges are read from the table at scrape time, so /metrics is current even between the
  // relay's own checks; a failed read keeps the previous value instead of failing the scrape.
  // Both gauges share one query per scrape.
  let last = { count: 0, oldestAgeMs: 0 };
  let inflight: Promise<typeof last> | undefined;
  const read = () => {
    inflight ??= refresh()
      .then(
        (v) => (last = v),
        () => last,
      )
      .finally(() => {
        inflight = undefined;
      });
    return inflight;
  };
  const backlog = reuse(
    registry,
    'outbox_backlog_events',
    () =>
      new Gauge({
        name: 'outbox_backlog_events',
        help: 'Outbox events not yet published to JetStream',
        registers: [registry],
        async collect() {
          this.set((await read()).count);
        },
      }),
  );
  const oldestAge = reuse(
    registry,
    'outbox_oldest_pending_age_seconds',
    () =>
      new Gauge({
        name: 'outbox_oldest_pending_age_seconds',
        help: 'Age of the oldest unpublished outbox event (0 when the outbox is empty)',
        registers: [registry],
        async collect() {
          this.set((await read()).oldestAgeMs / 1000);
        },
      }),
  );
  const published = reuse(
    registry,
    'outbox_published_total',
    () =>
      new Counter({
        name: 'outbox_published_total',
        help: 'Outbox events published and acknowledged by JetStream (duplicate="true": already stored, deduplicated by Nats-Msg-Id)',
        labelNames: ['duplicate'] as const,
        registers: [registry],
      }),
  );
  const failures = reuse(
    registry,
    'outbox_publish_failures_total',
    () =>
      new Counter({
        name: 'outbox_publish_failures_total',
        help: 'Outbox publishes that failed (NATS down, no PubAck in time); the event stays pending',
        registers: [registry],
      }),
  );
  return { backlog, oldestAge, published, failures };
}
