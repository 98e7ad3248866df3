// The notify-throughput floor: consume + ack with a no-op handler on the same stream, with the same
// pull batch and max_ack_pending as the welcome-email consumer, so the only difference from the
// service is the handler. Reports over IPC how long the first..Nth ack took.
import { performance } from 'node:perf_hooks';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';

const need = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};
const count = Number(need('BENCH_COUNT'));
const batch = Number(need('BENCH_BATCH'));
const nc = await connect({ servers: need('NATS_URL').split(',') });
const consumer = await jetstream(nc).consumers.get(need('BENCH_STREAM'), need('BENCH_DURABLE'));
const messages = await consumer.consume({ max_messages: batch });
let seen = 0;
let first = 0;
for await (const m of messages) {
  if (seen === 0) first = performance.now();
  m.ack();
  seen++;
  if (seen >= count) break;
}
const elapsedMs = performance.now() - first;
// The last acks must reach the server before the next repetition reads the consumer.
await nc.flush();
process.send?.({ type: 'done', count: seen, elapsedMs });
await nc.drain();
