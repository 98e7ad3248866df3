// The service's Prometheus metrics, registered on the app's own registry: what was processed, what
// failed and why, redeliveries, dead letters by reason, the consumer's backlog as the server sees
// it, how long sends take, and the delivery ledger's statements with the rows they carried (how
// well claims and marks are grouped).
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { FAILURE_CLASSES } from './retry.js';

export interface NotifyMetrics {
  processed: Counter<'outcome'>;
  failed: Counter<'class'>;
  redelivered: Counter;
  deadLettered: Counter<'reason'>;
  pending: Gauge<'consumer'>;
  ackPending: Gauge<'consumer'>;
  maxAckPending: Gauge<'consumer'>;
  redeliveredNow: Gauge<'consumer'>;
  inFlight: Gauge;
  sendDuration: Histogram<'outcome'>;
  ledgerStatements: Counter<'statement'>;
  ledgerRows: Counter<'op'>;
}

export function createMetrics(registry: Registry): NotifyMetrics {
  const metrics = register(registry);
  // Every label value known in advance is exported at 0 from the start: a rate or a ratio over
  // them (the failure-rate alert) needs the series before the first failure, not after it.
  for (const outcome of ['sent', 'duplicate']) metrics.processed.labels(outcome).inc(0);
  for (const c of FAILURE_CLASSES) metrics.failed.labels(c).inc(0);
  for (const outcome of ['sent', 'failed']) metrics.sendDuration.zero({ outcome });
  return metrics;
}

function register(registry: Registry): NotifyMetrics {
  const registers = [registry];
  // The server's view of one consumer, polled from consumer info.
  const consumerGauge = (name: string, help: string) =>
    new Gauge({ name, help, labelNames: ['consumer'] as const, registers });
  return {
    processed: new Counter({
      name: 'notify_events_processed_total',
      help: 'Welcome events finished successfully (outcome: sent, or duplicate already sent)',
      labelNames: ['outcome'] as const,
      registers,
    }),
    failed: new Counter({
      name: 'notify_events_failed_total',
      help: 'Failed processing attempts by failure class',
      labelNames: ['class'] as const,
      registers,
    }),
    redelivered: new Counter({
      name: 'notify_events_redelivered_total',
      help: 'Deliveries with a delivery count above 1',
      registers,
    }),
    deadLettered: new Counter({
      name: 'notify_deadletters_total',
      help: 'Messages copied into the dead-letter stream, by reason',
      labelNames: ['reason'] as const,
      registers,
    }),
    pending: consumerGauge(
      'notify_consumer_pending',
      'Messages not yet delivered to the consumer (server view)',
    ),
    ackPending: consumerGauge(
      'notify_consumer_ack_pending',
      'Delivered but unacknowledged messages (server view)',
    ),
    maxAckPending: consumerGauge(
      'notify_consumer_max_ack_pending',
      'The consumer max_ack_pending limit that ack-pending is bounded by',
    ),
    redeliveredNow: consumerGauge(
      'notify_consumer_redelivered',
      'Messages currently being redelivered (server view)',
    ),
    inFlight: new Gauge({
      name: 'notify_in_flight',
      help: 'Events being processed by this process',
      registers,
    }),
    sendDuration: new Histogram({
      name: 'notify_send_duration_seconds',
      help: 'Time to hand one email to the transport',
      labelNames: ['outcome'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    ledgerStatements: new Counter({
      name: 'notify_ledger_statements_total',
      help: 'Statements run by the delivery ledger (statement: ledger for claims and sent marks, release)',
      labelNames: ['statement'] as const,
      registers,
    }),
    ledgerRows: new Counter({
      name: 'notify_ledger_rows_total',
      help: 'Rows those statements carried (op: claim, mark_sent, release)',
      labelNames: ['op'] as const,
      registers,
    }),
  };
}
