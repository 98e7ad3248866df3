// The relay under faults: a NATS server that goes away and comes back (with a private nats-server
// the test owns), and a relay process killed between publish and mark.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { isolatedDatabase, startNatsServer } from '@app/testing';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Registry } from 'prom-client';
import {
  collect,
  createUsersStream,
  outbox,
  pendingCount,
  query,
  PRODUCER,
  relay,
  streamCount,
  writeEvents,
} from './helper.js';

void t.test(
  'NATS down: events wait in the outbox, then all arrive exactly once when it returns',
  async (t) => {
    const db = await isolatedDatabase(t);
    const server = await startNatsServer();
    t.teardown(() => server.close());
    const nc = await connect({
      servers: server.url,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 200,
    });
    t.teardown(() => nc.close());
    const jsm = await jetstreamManager(nc);
    const n = await createUsersStream(jsm, 'faults');

    const r = await relay(t, {
      databaseUrl: db.url,
      nc,
      pollIntervalMs: 60_000,
      publishTimeoutMs: 1000,
      backoff: { initialMs: 100, maxMs: 1000 },
      batchSize: 50,
    });

    await server.stop();
    const written = await writeEvents(db.url, n.subjects.userSignedUp, 200);
    const during = await r.backlog();
    t.ok(during.count > 0, `events wait in the outbox while NATS is down (${during.count})`);

    await server.start();
    // A reader of its own: the relay's connection reconnects on its own schedule.
    const reader = await connect({ servers: server.url });
    t.teardown(() => reader.close());
    const got = await collect(jetstream(reader), n.streams.users, 200);
    await r.stop();
    t.same(
      new Set(got.map((m) => m.id)),
      new Set(written.map((w) => w.id)),
      'all 200 events arrived',
    );
    t.equal(new Set(got.map((m) => m.id)).size, 200, 'each once');
    t.equal(await streamCount(jsm, n.streams.users), 200, 'the stream holds exactly 200');
    t.equal(await pendingCount(db.url), 0, 'the backlog drained');
  },
);

void t.test(
  'a relay killed between publish and mark: the restarted relay republishes, the stream keeps one copy',
  async (t) => {
    const { databaseUrl, nats, names: n } = await outbox(t);
    const written = await writeEvents(databaseUrl, n.subjects.userSignedUp, 10);

    const fixture = fileURLToPath(new URL('./fixtures/crashing-relay.ts', import.meta.url));
    const child = spawn(
      process.execPath,
      ['--import=tsx', '--conditions=app-source', fixture, databaseUrl, nats.url, PRODUCER, '3'],
      {
        stdio: ['ignore', 'inherit', 'inherit'],
      },
    );
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
    clearTimeout(timer);
    t.equal(signal, 'SIGKILL', `the relay process died mid-batch (code ${code})`);
    t.equal(await streamCount(nats.jsm, n.streams.users), 3, 'it published 3 events before dying');
    t.equal(
      await pendingCount(databaseUrl),
      10,
      'none of them was marked published (its transaction died with it)',
    );

    const registry = new Registry();
    const r = await relay(t, {
      databaseUrl,
      nc: nats.nc,
      pollIntervalMs: 60_000,
      metricsRegistry: registry,
    });
    const got = await collect(nats.js, n.streams.users, 10);
    await r.stop();
    t.same(
      got.map((m) => m.id),
      written.map((w) => w.id),
      'each event once, in order',
    );
    t.equal(await streamCount(nats.jsm, n.streams.users), 10, 'the stream holds 10, not 13');
    t.match(
      await registry.metrics(),
      /^outbox_published_total\{duplicate="true"\} 3$/m,
      'the 3 republished ones were deduplicated',
    );
  },
);

void t.test(
  "the relay's Postgres connection killed while it publishes: no crash, the batch retried, each event once",
  async (t) => {
    const { databaseUrl, nats, names: n } = await outbox(t);
    const written = await writeEvents(databaseUrl, n.subjects.userSignedUp, 5);

    // After the second publish, with the batch's transaction open and no query running, the
    // server ends the relay's connection: pg emits 'error' on a client the pool has lent out,
    // which with no listener is an uncaught exception (it shut signup-service down in
    // `pnpm reliability` "cut postgres").
    let killed = 0;
    const registry = new Registry();
    const r = await relay(t, {
      databaseUrl,
      nc: nats.nc,
      pollIntervalMs: 60_000,
      backoff: { initialMs: 50, maxMs: 200 },
      metricsRegistry: registry,
      afterPublish: async () => {
        if (killed++ !== 1) return;
        const ended = await query<{ pid: number }>(
          databaseUrl,
          // MATERIALIZED: the filter runs first (a WHERE's terms may run in any order, and
          // pg_terminate_backend beside them could end this connection too).
          `WITH relay AS MATERIALIZED (
             SELECT pid FROM pg_stat_activity
              WHERE datname = current_database() AND state = 'idle in transaction'
                AND pid <> pg_backend_pid())
           SELECT pid FROM relay WHERE pg_terminate_backend(pid)`,
        );
        t.equal(ended.length, 1, "the relay's transaction was ended by the server");
        const pids = ended.map((e) => e.pid);
        for (;;) {
          const left = await query(
            databaseUrl,
            'SELECT 1 FROM pg_stat_activity WHERE pid = ANY($1)',
            [pids],
          );
          if (left.length === 0) break;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        // Let the socket's FATAL and EOF reach the client before the relay's next statement.
        await new Promise((resolve) => setTimeout(resolve, 200));
      },
    });

    const got = await collect(nats.js, n.streams.users, 5);
    // The stream fills on the first attempt; the marks come from the retried batch.
    for (let i = 0; i < 200 && (await pendingCount(databaseUrl)) > 0; i++)
      await new Promise((resolve) => setTimeout(resolve, 50));
    await r.stop();
    t.ok(killed >= 2, 'the connection was killed mid-batch');
    t.same(
      got.map((m) => m.id),
      written.map((w) => w.id),
      'each event once, in order',
    );
    t.equal(await streamCount(nats.jsm, n.streams.users), 5, 'the stream holds 5');
    t.equal(await pendingCount(databaseUrl), 0, 'the retried batch marked every row');
    t.match(
      await registry.metrics(),
      /^outbox_published_total\{duplicate="true"\} 5$/m,
      'the killed batch, published again on retry, was deduplicated (5 of 5)',
    );
  },
);
