// The relay against the shared Postgres and NATS: order, headers, marking, NOTIFY wake-ups, LISTEN
// reconnection, several replicas, pruning and metrics.
import t from 'tap';
import { isolatedDatabase, isolatedNats } from '@app/testing';
import { Registry } from 'prom-client';
import pg from 'pg';
import { enqueue, enqueuePrisma, startRelay, type Relay } from '../src/index.js';
import { collect, createUsersStream, query, streamCount, writeEvents } from './helper.js';
import { makeEnvelope } from '@app/contracts';

void t.test(
  'publishes pending events in order with Nats-Msg-Id and traceparent, then marks them',
  async (t) => {
    const db = await isolatedDatabase(t);
    const nats = await isolatedNats(t);
    const n = await createUsersStream(nats.jsm, nats.namespace);
    const written = await writeEvents(db.url, n.subjects.userSignedUp, 20);

    const relay = await startRelay({
      databaseUrl: db.url,
      nc: nats.nc,
      batchSize: 7,
      pollIntervalMs: 60_000,
    });
    t.teardown(() => relay.stop());
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

    await relay.stop();
    const rows = await query<{ pending: number }>(
      db.url,
      'SELECT count(*)::int AS pending FROM outbox_events WHERE published_at IS NULL',
    );
    t.equal(rows[0]!.pending, 0, 'all rows marked published');
    t.equal(await streamCount(nats.jsm, n.streams.users), 20, 'nothing published twice');
  },
);

void t.test(
  'a NOTIFY wakes the relay long before its poll, also after the LISTEN connection was killed',
  async (t) => {
    const db = await isolatedDatabase(t);
    const nats = await isolatedNats(t);
    const n = await createUsersStream(nats.jsm, nats.namespace);
    const relay = await startRelay({
      databaseUrl: db.url,
      nc: nats.nc,
      pollIntervalMs: 600_000, // far beyond the test timeout: only NOTIFY can deliver in time
      backoff: { initialMs: 50, maxMs: 200 },
    });
    t.teardown(() => relay.stop());

    const [first] = await writeEvents(db.url, n.subjects.userSignedUp, 1);
    const got1 = await collect(nats.js, n.streams.users, 1);
    t.equal(got1[0]!.id, first!.id, 'woken by NOTIFY');

    const killed = await query<{ ok: boolean }>(
      db.url,
      `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
      WHERE datname = current_database() AND query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()`,
    );
    t.equal(killed.length, 1, 'the LISTEN connection was found and terminated');

    const [second] = await writeEvents(db.url, n.subjects.userSignedUp, 1);
    const got2 = await collect(nats.js, n.streams.users, 2);
    t.equal(got2[1]!.id, second!.id, 'LISTEN re-established and the new event delivered');
  },
);

void t.test('events written in a rolled-back transaction never leave', async (t) => {
  const db = await isolatedDatabase(t);
  const nats = await isolatedNats(t);
  const n = await createUsersStream(nats.jsm, nats.namespace);
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  const envelope = makeEnvelope('user.signed_up', 1, {
    userId: crypto.randomUUID(),
    email: 'a@b.io',
    displayName: 'A',
  });
  await client.query('BEGIN');
  await enqueue(client, { subject: n.subjects.userSignedUp, envelope });
  await client.query('ROLLBACK');
  // A Prisma-like client: enqueuePrisma must issue the same insert through $executeRawUnsafe.
  const committed = makeEnvelope('user.signed_up', 1, {
    userId: crypto.randomUUID(),
    email: 'c@d.io',
    displayName: 'C',
  });
  await client.query('BEGIN');
  await enqueuePrisma(
    {
      $executeRawUnsafe: async (sql, ...values) => (await client.query(sql, values)).rowCount ?? 0,
    },
    { subject: n.subjects.userSignedUp, envelope: committed, traceparent: 'not-a-traceparent' },
  );
  await client.query('COMMIT');
  await client.end();

  const relay = await startRelay({ databaseUrl: db.url, nc: nats.nc, pollIntervalMs: 60_000 });
  t.teardown(() => relay.stop());
  const got = await collect(nats.js, n.streams.users, 1);
  await relay.stop();
  t.equal(got[0]!.id, committed.id, 'only the committed event');
  t.equal(got[0]!.traceparent, undefined, 'a malformed traceparent is not forwarded');
  t.equal(await streamCount(nats.jsm, n.streams.users), 1);
});

void t.test('two relays on one database publish every event exactly once', async (t) => {
  const db = await isolatedDatabase(t);
  const nats = await isolatedNats(t);
  const n = await createUsersStream(nats.jsm, nats.namespace);
  const registries = [new Registry(), new Registry()];
  const relays: Relay[] = [];
  for (const registry of registries) {
    const r = await startRelay({
      databaseUrl: db.url,
      nc: nats.nc,
      batchSize: 5,
      pollIntervalMs: 60_000,
      metricsRegistry: registry,
    });
    relays.push(r);
    t.teardown(() => r.stop());
  }
  // Written while both run, so both are woken by every NOTIFY and compete for the same rows.
  const written = await writeEvents(db.url, n.subjects.userSignedUp, 300, false);
  const got = await collect(nats.js, n.streams.users, 300);
  await Promise.all(relays.map((r) => r.stop()));

  t.same(new Set(got.map((m) => m.id)), new Set(written.map((w) => w.id)), 'every event arrived');
  t.equal(await streamCount(nats.jsm, n.streams.users), 300, 'the stream holds each once');
  const counts = await Promise.all(
    registries.map(async (r) => (await r.getSingleMetric('outbox_published_total')!.get()).values),
  );
  const sum = (dup: string) =>
    counts
      .flat()
      .filter((v) => v.labels.duplicate === dup)
      .reduce((a, v) => a + v.value, 0);
  t.equal(sum('false'), 300, '300 first-time publishes in total');
  t.equal(sum('true'), 0, 'no event was published twice (not even one the dedupe window caught)');
  t.ok(
    counts.every((c) => c.some((v) => v.value > 0)),
    'both relays did part of the work',
  );
});

void t.test(
  'prunes published rows older than the retention, keeps pending and recent ones',
  async (t) => {
    const db = await isolatedDatabase(t);
    const nats = await isolatedNats(t);
    const n = await createUsersStream(nats.jsm, nats.namespace);
    const written = await writeEvents(db.url, n.subjects.userSignedUp, 6);
    const ids = written.map((w) => w.id);
    await query(
      db.url,
      `UPDATE outbox_events SET published_at = now() - interval '2 hours' WHERE id = ANY($1::uuid[])`,
      [ids.slice(0, 3)],
    );
    await query(
      db.url,
      `UPDATE outbox_events SET published_at = now() - interval '10 minutes' WHERE id = $1`,
      [ids[3]],
    );

    const relay = await startRelay({
      databaseUrl: db.url,
      nc: nats.nc,
      retentionMs: 3_600_000,
      pollIntervalMs: 60_000,
      pruneIntervalMs: 600_000,
    });
    t.teardown(() => relay.stop());
    await collect(nats.js, n.streams.users, 2);
    await relay.stop();
    const left = await query<{ id: string }>(db.url, 'SELECT id FROM outbox_events ORDER BY seq');
    t.same(
      left.map((r) => r.id),
      ids.slice(3),
      'rows published 2 h ago are gone, the rest stay',
    );
  },
);

void t.test('metrics report the backlog and its oldest age', async (t) => {
  const db = await isolatedDatabase(t);
  const nats = await isolatedNats(t);
  const n = await createUsersStream(nats.jsm, nats.namespace);
  await writeEvents(db.url, n.subjects.userSignedUp, 4);
  await query(db.url, `UPDATE outbox_events SET created_at = now() - interval '90 seconds'`);
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
  const relay = await startRelay({
    databaseUrl: db.url,
    nc: nats.nc,
    metricsRegistry: registry,
    pollIntervalMs: 60_000,
    backlogWarnThreshold: 1,
    publishTimeoutMs: 500,
    log,
  });
  t.teardown(() => relay.stop());
  const text = await registry.metrics();
  t.match(text, /^outbox_backlog_events 4$/m);
  const age = Number(/^outbox_oldest_pending_age_seconds (\S+)$/m.exec(text)?.[1]);
  t.ok(age >= 90 && age < 600, `oldest age ~90 s (got ${age})`);
  await relay.stop(); // waits for the first batch, whose publish failed
  t.match(await registry.metrics(), /^outbox_publish_failures_total [1-9]/m, 'failures counted');
  t.ok(warnings.includes('outbox backlog is growing'), 'the growing backlog was logged');
});
