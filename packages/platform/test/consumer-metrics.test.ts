// What /metrics says about JetStream consumers and readiness, against the real NATS: a consumer's
// lag, ack-pending and max_ack_pending as the server reports them; a consumer not provisioned has no
// series and counts a failed read; service_ready follows the readiness checks.
import { AckPolicy } from '@nats-io/jetstream';
import { isolatedNats } from '@app/testing';
import t from 'tap';
import { consumerMetrics, createApp, natsPlugin } from '../src/index.js';

/** The value of one sample of the exposition, or undefined when the series is absent. */
function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`${name}{`) && l.includes(labels) && !l.startsWith('#'));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

void t.test('consumer lag, ack pending and max_ack_pending come from the server', async (t) => {
  const nats = await isolatedNats(t);
  const stream = `${nats.namespace.toUpperCase()}_METRICS`;
  await nats.jsm.streams.add({ name: stream, subjects: [`${nats.namespace}.metrics.>`] });
  await nats.jsm.consumers.add(stream, {
    durable_name: 'watched',
    ack_policy: AckPolicy.Explicit,
    max_ack_pending: 7,
  });
  for (let i = 0; i < 5; i++) await nats.js.publish(`${nats.namespace}.metrics.e`, `${i}`);
  // Two delivered and held: ack pending 2, three left to deliver.
  const consumer = await nats.js.consumers.get(stream, 'watched');
  const held = [];
  for (let i = 0; i < 2; i++) {
    const m = await consumer.next({ expires: 5000 });
    if (m) held.push(m);
  }
  t.equal(held.length, 2, 'two messages delivered');

  let healthy = true;
  const app = createApp({
    name: 'demo',
    logger: false,
    readiness: {
      dependency: async () => {
        if (!healthy) throw new Error('down');
      },
    },
  });
  await app.register(natsPlugin, { servers: nats.url, name: 'consumer-metrics-test' });
  app.after(() =>
    consumerMetrics(app, [
      { stream, consumer: 'watched' },
      { stream, consumer: 'not-provisioned' },
    ]),
  );
  t.teardown(() => app.close());
  await app.ready();

  const scrape = async (): Promise<string> => (await app.inject('/metrics')).body;
  const watched = `consumer="watched"`;
  let text = await scrape();
  t.equal(sample(text, 'jetstream_consumer_pending_messages', watched), 3, 'lag: 3 undelivered');
  t.equal(sample(text, 'jetstream_consumer_ack_pending_messages', watched), 2, 'ack pending: 2');
  t.equal(sample(text, 'jetstream_consumer_max_ack_pending', watched), 7, 'max_ack_pending');
  t.match(text, `stream="${stream}"`, 'labelled with the stream');
  const missing = `consumer="not-provisioned"`;
  t.equal(sample(text, 'jetstream_consumer_pending_messages', missing), undefined, 'no series');
  t.equal(sample(text, 'jetstream_consumer_info_failures_total', missing), 1, 'a failed read');
  t.equal(sample(text, 'jetstream_consumer_info_failures_total', watched), 0, 'no failed read');
  t.equal(sample(text, 'service_ready', 'service="demo"'), 1, 'ready');

  for (const m of held) m.ack();
  await nats.nc.flush();
  healthy = false;
  text = await scrape();
  t.equal(sample(text, 'jetstream_consumer_ack_pending_messages', watched), 0, 'acked');
  t.equal(sample(text, 'service_ready', 'service="demo"'), 0, 'a failing check: not ready');

  healthy = true;
  app.markNotReady();
  text = await scrape();
  t.equal(sample(text, 'service_ready', 'service="demo"'), 0, 'shutting down: not ready');
});
