// outboxRelayPlugin inside a platform app: it waits for the first NATS connection (the app starts
// while NATS is down), then publishes its producer's rows, and on close stops the relay (no LISTEN
// connection left, later rows stay pending). A close before NATS ever came up does not hang.
import { createApp, natsPlugin } from '@app/platform';
import { isolatedDatabase, startNatsServer, type TestLike } from '@app/testing';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import t from 'tap';
import { outboxRelayPlugin } from '../src/index.js';
import {
  collect,
  createUsersStream,
  pendingCount,
  PRODUCER,
  query,
  writeEvents,
} from './helper.js';

/** A database, and a private NATS server that is down until the test starts it. */
async function natsDownAtFirst(t: TestLike) {
  const db = await isolatedDatabase(t);
  const server = await startNatsServer();
  t.teardown(() => server.close());
  await server.stop();
  return { databaseUrl: db.url, server };
}

async function appWithRelay(t: TestLike, databaseUrl: string, natsUrl: string) {
  const app = createApp({ name: PRODUCER, logger: false });
  await app.register(natsPlugin, { servers: natsUrl, name: 'outbox-plugin-test', required: false });
  await app.register(outboxRelayPlugin, {
    databaseUrl,
    producer: PRODUCER,
    pollIntervalMs: 60_000,
  });
  t.teardown(() => app.close());
  await app.ready();
  return app;
}

async function listeners(databaseUrl: string): Promise<number> {
  const rows = await query<{ c: number }>(
    databaseUrl,
    `SELECT count(*)::int AS c FROM pg_stat_activity
      WHERE datname = current_database() AND query ILIKE 'LISTEN%'`,
  );
  return rows[0]?.c ?? 0;
}

void t.test('starts once NATS first connects, publishes, and stops on close', async (t) => {
  const { databaseUrl, server } = await natsDownAtFirst(t);
  const app = await appWithRelay(t, databaseUrl, server.url);
  t.equal(app.outboxRelay.current(), undefined, 'no relay while NATS has never been up');

  await server.start();
  const nc = await connect({ servers: server.url });
  t.teardown(() => nc.close());
  const n = await createUsersStream(await jetstreamManager(nc), 'plugin');
  await app.outboxRelay.started();
  t.ok(app.outboxRelay.current(), 'the relay runs once NATS is connected');

  const written = await writeEvents(databaseUrl, n.subjects.userSignedUp, 3);
  const got = await collect(jetstream(nc), n.streams.users, 3);
  t.same(
    got.map((m) => m.id),
    written.map((w) => w.id),
  );
  // A consumer can hold a message before the relay has its PubAck; the rows are marked published
  // after every count for them is in, so wait for that (bounded) before reading /metrics.
  for (const deadline = Date.now() + 30_000; (await pendingCount(databaseUrl)) > 0;) {
    if (Date.now() > deadline) throw new Error('the relay did not mark its rows published');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const metrics = await app.inject({ method: 'GET', url: '/metrics' });
  t.match(
    metrics.body,
    /^outbox_published_total\{[^}]*duplicate="false"[^}]*\} 3$/m,
    'on /metrics',
  );

  await app.close();
  t.equal(await listeners(databaseUrl), 0, 'the LISTEN connection is closed');
  await writeEvents(databaseUrl, n.subjects.userSignedUp, 1);
  t.equal(await pendingCount(databaseUrl), 1, 'a row written after close stays pending');
});

void t.test('closing before NATS ever connected does not wait for it', async (t) => {
  const { databaseUrl, server } = await natsDownAtFirst(t);
  const app = await appWithRelay(t, databaseUrl, server.url);
  await app.close();
  t.equal(app.outboxRelay.current(), undefined, 'no relay was ever started');
  t.equal(await listeners(databaseUrl), 0);
});
