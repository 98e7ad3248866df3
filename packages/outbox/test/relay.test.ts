// The relay against the shared Postgres and NATS: order, headers, marking, NOTIFY wake-ups, LISTEN
// reconnection, producers, several replicas, pruning and metrics.
import t from 'tap';
import { Registry } from 'prom-client';
import pg from 'pg';
import { makeEnvelope } from '@app/contracts';
import { enqueue, enqueuePrisma } from '../src/index.js';
import {
  collect,
  outbox,
  pendingCount,
  PRODUCER,
  query,
  relay,
  streamCount,
  writeEvents,
} from './helper.js';

/** The outbox_published_total samples of a registry, by their `duplicate` label. */
async function publishedCounts(registry: Registry): Promise<{ fresh: number; duplicate: number }> {
  const metric = registry.getSingleMetric('outbox_published_total');
  const values = metric ? (await metric.get()).values : [];
  const sum = (dup: string) =>
    values.filter((v) => v.labels.duplicate === dup).reduce((a, v) => a + v.value, 0);
  return { fresh: sum('false'), duplicate: sum('true') };
}

void t.test(
  'publishes pending events in order with Nats-Msg-Id and traceparent, then marks them',
  async (t) => {
    const { databaseUrl, nats, names: n } = await outbox(t);
    const written = await writeEvents(databaseUrl, n.subjects.userSignedUp, 20);

    const r = await relay(t, { databaseUrl, nc: nats.nc, batchSize: 7, pollIntervalMs: 60_000 });
    const got = await collect(nats.js, n.streams.users, 20);
    t.same(
      got.map((m) => m.id),
      written.map((w) => w.id),
      'every event, in creation order, with Nats-Msg-Id = event id',
    );
    t.same(
      got.map((m) => m.data.id),
      written.map((w) => w.id),
      'the payload is the envelope',
    );
    t.same(
      got.map((m) => m.traceparent),
      written.map((w) => w.traceparent),
      'traceparent header carried',
    );
    t.ok(
      got.every((m) => m.subject === n.subjects.userSignedUp && m.data.type === 'user.signed_up'),
    );

    await r.stop();
    t.equal(await pendingCount(databaseUrl), 0, 'all rows marked published');
    t.equal(await streamCount(nats.jsm, n.streams.users), 20, 'nothing published twice');
  },
);

void t.test('each relay publishes only the rows of its own producer', async (t) => {
  const { databaseUrl, nats, names: n } = await outbox(t);
  const signups = await writeEvents(databaseUrl, n.subjects.userSignedUp, 5, {
    producer: 'signup-service',
  });
  const updates = await writeEvents(databaseUrl, n.subjects.userProfileUpdated, 5, {
    producer: 'profile-service',
    type: 'user.profile_updated',
  });

  const relayOf = (producer: string) =>
    relay(t, { databaseUrl, nc: nats.nc, producer, pollIntervalMs: 60_000 });

  const signupRelay = await relayOf('signup-service');
  const first = await collect(nats.js, n.streams.users, 5);
  t.same(
    first.map((m) => m.id),
    signups.map((w) => w.id),
    "signup-service's relay published signup-service's rows",
  );
  t.equal(await signupRelay.drainOnce(), 0, 'and finds nothing more to claim');
  t.equal(await streamCount(nats.jsm, n.streams.users), 5, "profile-service's rows stayed out");
  t.equal(await pendingCount(databaseUrl, 'profile-service'), 5, 'they are still pending');
  t.equal((await signupRelay.backlog()).count, 0, "the other producer's rows are not its backlog");

  const profileRelay = await relayOf('profile-service');
  const all = await collect(nats.js, n.streams.users, 10);
  await profileRelay.stop(); // after the batch in flight, so its rows are marked
  t.same(
    all.slice(5).map((m) => m.id),
    updates.map((w) => w.id),
    "profile-service's relay published its own",
  );
  t.equal(await pendingCount(databaseUrl, 'profile-service'), 0, 'and marked them');
});

void t.test(
  'a NOTIFY wakes the relay long before its poll, also after the LISTEN connection was killed',
  async (t) => {
    const { databaseUrl, nats, names: n } = await outbox(t);
    await relay(t, {
      databaseUrl,
      nc: nats.nc,
      pollIntervalMs: 600_000, // far beyond the test timeout: only NOTIFY can deliver in time
      backoff: { initialMs: 50, maxMs: 200 },
    });

    const [first] = await writeEvents(databaseUrl, n.subjects.userSignedUp, 1);
    const got1 = await collect(nats.js, n.streams.users, 1);
    t.equal(got1[0]!.id, first!.id, 'woken by NOTIFY');

    const killed = await query<{ ok: boolean }>(
      databaseUrl,
      `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
      WHERE datname = current_database() AND query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()`,
    );
    t.equal(killed.length, 1, 'the LISTEN connection was found and terminated');

    const [second] = await writeEvents(databaseUrl, n.subjects.userSignedUp, 1);
    const got2 = await collect(nats.js, n.streams.users, 2);
    t.equal(got2[1]!.id, second!.id, 'LISTEN re-established and the new event delivered');
  },
);

void t.test('events written in a rolled-back transaction never leave', async (t) => {
  const { databaseUrl, nats, names: n } = await outbox(t);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const event = (email: string) => ({
    producer: PRODUCER,
    subject: n.subjects.userSignedUp,
    envelope: makeEnvelope('user.signed_up', 1, {
      userId: crypto.randomUUID(),
      email,
      displayName: 'A',
    }),
  });
  await client.query('BEGIN');
  await enqueue(client, event('a@b.io'));
  await client.query('ROLLBACK');
  // A Prisma-like client: enqueuePrisma must issue the same insert through $executeRawUnsafe.
  const committed = event('c@d.io');
  await client.query('BEGIN');
  await enqueuePrisma(
    {
      $executeRawUnsafe: async (sql, ...values) => (await client.query(sql, values)).rowCount ?? 0,
    },
    { ...committed, traceparent: 'not-a-traceparent' },
  );
  await client.query('COMMIT');
  await client.end();

  const r = await relay(t, { databaseUrl, nc: nats.nc, pollIntervalMs: 60_000 });
  const got = await collect(nats.js, n.streams.users, 1);
  await r.stop();
  t.equal(got[0]!.id, committed.envelope.id, 'only the committed event');
  t.equal(got[0]!.traceparent, undefined, 'a malformed traceparent is not forwarded');
  t.equal(await streamCount(nats.jsm, n.streams.users), 1);
});

void t.test('two relays of one producer publish every event exactly once', async (t) => {
  const { databaseUrl, nats, names: n } = await outbox(t);
  const registries = [new Registry(), new Registry()];
  const relays = [];
  for (const metricsRegistry of registries) {
    relays.push(
      await relay(t, {
        databaseUrl,
        nc: nats.nc,
        batchSize: 5,
        pollIntervalMs: 60_000,
        metricsRegistry,
      }),
    );
  }
  // Written while both run, so both are woken by every NOTIFY and compete for the same rows.
  const written = await writeEvents(databaseUrl, n.subjects.userSignedUp, 300, {
    withTrace: false,
  });
  const got = await collect(nats.js, n.streams.users, 300);
  await Promise.all(relays.map((r) => r.stop()));

  t.same(new Set(got.map((m) => m.id)), new Set(written.map((w) => w.id)), 'every event arrived');
  t.equal(await streamCount(nats.jsm, n.streams.users), 300, 'the stream holds each once');
  const [a, b] = await Promise.all(registries.map(publishedCounts));
  t.equal(a!.fresh + b!.fresh, 300, '300 first-time publishes in total');
  t.equal(
    a!.duplicate + b!.duplicate,
    0,
    'no event was published twice (not even one the dedupe window caught)',
  );
  t.ok(a!.fresh > 0 && b!.fresh > 0, 'both relays did part of the work');
});

void t.test(
  'prunes published rows older than the retention, keeps pending and recent ones',
  async (t) => {
    const { databaseUrl, nats, names: n } = await outbox(t);
    const written = await writeEvents(databaseUrl, n.subjects.userSignedUp, 6);
    const ids = written.map((w) => w.id);
    await query(
      databaseUrl,
      `UPDATE outbox_events SET published_at = now() - interval '2 hours' WHERE id = ANY($1::uuid[])`,
      [ids.slice(0, 3)],
    );
    await query(
      databaseUrl,
      `UPDATE outbox_events SET published_at = now() - interval '10 minutes' WHERE id = $1`,
      [ids[3]],
    );

    const r = await relay(t, {
      databaseUrl,
      nc: nats.nc,
      retentionMs: 3_600_000,
      pollIntervalMs: 60_000,
      pruneIntervalMs: 600_000,
    });
    await collect(nats.js, n.streams.users, 2);
    await r.stop();
    const left = await query<{ id: string }>(
      databaseUrl,
      'SELECT id FROM outbox_events ORDER BY seq',
    );
    t.same(
      left.map((row) => row.id),
      ids.slice(3),
      'rows published 2 h ago are gone, the rest stay',
    );
  },
);

void t.test('metrics report the backlog and its oldest age', async (t) => {
  const { databaseUrl, nats, names: n } = await outbox(t);
  await writeEvents(databaseUrl, n.subjects.userSignedUp, 4);
  await query(databaseUrl, `UPDATE outbox_events SET created_at = now() - interval '90 seconds'`);
  // No stream for this subject: every publish fails, so the backlog stays.
  await nats.jsm.streams.delete(n.streams.users);
  const registry = new Registry();
  const warnings: string[] = [];
  const log = {
    debug() {},
    info() {},
    error() {},
    warn: (_o: object, msg?: string) => warnings.push(msg ?? ''),
  };
  const r = await relay(t, {
    databaseUrl,
    nc: nats.nc,
    metricsRegistry: registry,
    pollIntervalMs: 60_000,
    backlogWarnThreshold: 1,
    publishTimeoutMs: 500,
    log,
  });
  const text = await registry.metrics();
  t.match(text, /^outbox_backlog_events 4$/m);
  const age = Number(/^outbox_oldest_pending_age_seconds (\S+)$/m.exec(text)?.[1]);
  t.ok(age >= 90, `oldest age at least 90 s (got ${age})`);
  await r.stop(); // waits for the first batch, whose publish failed
  t.match(await registry.metrics(), /^outbox_publish_failures_total [1-9]/m, 'failures counted');
  t.ok(warnings.includes('outbox backlog is growing'), 'the growing backlog was logged');
});
