// The outbox inside the service, under faults: NATS stopped during 200 signups (a private
// nats-server the test owns), and a relay that dies between publish and mark.
import t from 'tap';
import { isolatedDatabase, isolatedRedis, startNatsServer } from '@app/testing';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { names } from '@app/contracts';
import { loadConfig } from '../src/config.js';
import { build, keys, provisionStreams, signupBody, sql, testConfig } from './helper.js';

async function readStream(url: string, stream: string, count: number, timeoutMs = 30_000) {
  const nc = await connect({ servers: url });
  try {
    const consumer = await jetstream(nc).consumers.get(stream);
    const messages = await consumer.consume();
    const ids: string[] = [];
    const timer = setTimeout(() => messages.stop(), timeoutMs);
    for await (const m of messages) {
      ids.push(m.headers?.get('Nats-Msg-Id') ?? '');
      if (ids.length >= count) break;
    }
    clearTimeout(timer);
    messages.stop();
    const stored = (await (await jetstreamManager(nc)).streams.info(stream)).state.messages;
    return { ids, stored };
  } finally {
    await nc.close();
  }
}

void t.test(
  'NATS down: 200 signups all answer 201, and all 200 events arrive exactly once when it returns',
  async (t) => {
    const [db, redis] = await Promise.all([isolatedDatabase(t), isolatedRedis(t)]);
    const server = await startNatsServer();
    t.teardown(() => server.close());
    const setup = await connect({ servers: server.url });
    await provisionStreams(await jetstreamManager(setup), 'faults');
    await setup.close();
    const config = loadConfig({
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      NATS_URL: server.url,
      NATS_NAMESPACE: 'faults',
      SIGNUP_REDIS_PREFIX: redis.prefix,
      JWT_PRIVATE_KEY: keys.privateKey,
      JWT_PUBLIC_KEY: keys.publicKey,
      LOG_LEVEL: 'silent',
      SIGNUP_SCRYPT_LOG_N: '11',
      SIGNUP_RATE_SIGNUP_MAX: '100000',
      SIGNUP_RELAY_POLL_MS: '60000',
    });
    const app = await build(t, config, {
      relay: { publishTimeoutMs: 1000, backoff: { initialMs: 100, maxMs: 1000 } },
    });

    await server.stop();
    const statuses: number[] = [];
    for (let batch = 0; batch < 10; batch++) {
      const rs = await Promise.all(
        Array.from({ length: 20 }, () =>
          app.inject({ method: 'POST', url: '/v1/signup', payload: signupBody() }),
        ),
      );
      statuses.push(...rs.map((r) => r.statusCode));
    }
    t.equal(
      statuses.filter((s) => s === 201).length,
      200,
      'all 200 signups answered 201 with NATS down',
    );
    const ready = await app.inject({ method: 'GET', url: '/health/ready' });
    t.equal(ready.statusCode, 200, 'still ready: NATS is not a readiness dependency');
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    const backlog = Number(/^outbox_backlog_events(?:\{[^}]*\})? (\d+)/m.exec(metrics)?.[1]);
    t.ok(backlog > 0 && backlog <= 200, `the backlog is exported in /metrics (${backlog})`);
    t.match(metrics, /^outbox_oldest_pending_age_seconds/m);

    await server.start();
    const stream = names('faults').streams.users;
    const { ids, stored } = await readStream(server.url, stream, 200);
    const eventIds = (await sql<{ id: string }>(db.url, 'SELECT id FROM outbox_events')).map(
      (r) => r.id,
    );
    t.same(new Set(ids), new Set(eventIds), 'every event arrived');
    t.equal(new Set(ids).size, 200, 'no event twice');
    t.equal(stored, 200, 'the stream stores exactly 200');
  },
);

void t.test(
  'a relay that dies between publish and mark: the next one republishes, the stream keeps each event once',
  async (t) => {
    const ctx = await testConfig(t);
    // The first instance's relay fails right after every PubAck, before marking, as if it crashed there.
    const crashing = await build(t, ctx.config, {
      relay: {
        afterPublish: () => {
          throw new Error('simulated crash between publish and mark');
        },
        backoff: { initialMs: 50, maxMs: 200 },
      },
    });
    for (let i = 0; i < 5; i++) {
      t.equal(
        (await crashing.inject({ method: 'POST', url: '/v1/signup', payload: signupBody() }))
          .statusCode,
        201,
      );
    }
    const stream = names(ctx.namespace).streams.users;
    // Wait until the crashing relay has put the first event in the stream.
    const first = await readStream(ctx.nats.url, stream, 1);
    t.equal(first.ids.length, 1);
    await crashing.close();
    const [{ pending } = { pending: 0 }] = await sql<{ pending: number }>(
      ctx.databaseUrl,
      'SELECT count(*)::int AS pending FROM outbox_events WHERE published_at IS NULL',
    );
    t.equal(pending, 5, 'nothing was marked published');

    const healthy = await build(t, ctx.config);
    const { ids, stored } = await readStream(ctx.nats.url, stream, 5);
    t.equal(new Set(ids).size, 5, 'all 5 events');
    t.equal(
      stored,
      5,
      'the stream holds each event once (the duplicate window dropped the republished one)',
    );
    await healthy.close();
    const metrics = await healthy.metrics.registry.metrics();
    t.match(
      metrics,
      /outbox_published_total\{duplicate="true"[^}]*\} [1-9]/,
      'the republish was seen as a duplicate',
    );
  },
);
