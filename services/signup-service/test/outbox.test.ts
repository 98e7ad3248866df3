// The outbox inside the service: its relay publishes only this service's rows, and under faults
// (NATS stopped during 200 signups on a private nats-server, a relay that dies between publish
// and mark) every event still arrives exactly once.
import t from 'tap';
import { startNatsServer } from '@app/testing';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { randomUUID } from 'node:crypto';
import { makeEnvelope, names } from '@app/contracts';
import { enqueuePrisma } from '@app/outbox';
import { build, postSignup, provisionStreams, signupBody, testEnv } from './helper.js';

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
    const server = await startNatsServer();
    t.teardown(() => server.close());
    const setup = await connect({ servers: server.url });
    await provisionStreams(await jetstreamManager(setup), 'faults');
    await setup.close();
    const { app, env } = await build(t, {
      vars: { NATS_URL: server.url, NATS_NAMESPACE: 'faults', SIGNUP_SCRYPT_LOG_N: '11' },
      deps: { relay: { publishTimeoutMs: 1000, backoff: { initialMs: 100, maxMs: 1000 } } },
    });

    await server.stop();
    const statuses: number[] = [];
    for (let batch = 0; batch < 10; batch++) {
      const rs = await Promise.all(Array.from({ length: 20 }, () => postSignup(app, signupBody())));
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
    const eventIds = (await env.prisma.outboxEvent.findMany({ select: { id: true } })).map(
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
    const env = await testEnv(t);
    // The first instance's relay fails right after every PubAck, before marking, as if it crashed there.
    const { app: crashing } = await build(t, {
      env,
      deps: {
        relay: {
          afterPublish: () => {
            throw new Error('simulated crash between publish and mark');
          },
          backoff: { initialMs: 50, maxMs: 200 },
        },
      },
    });
    for (let i = 0; i < 5; i++) {
      t.equal((await postSignup(crashing, signupBody())).statusCode, 201);
    }
    const stream = names(env.namespace).streams.users;
    // Wait until the crashing relay has put the first event in the stream.
    const first = await readStream(env.nats.url, stream, 1);
    t.equal(first.ids.length, 1);
    await crashing.close();
    const pending = await env.prisma.outboxEvent.count({ where: { publishedAt: null } });
    t.equal(pending, 5, 'nothing was marked published');

    const { app: healthy } = await build(t, { env });
    const { ids, stored } = await readStream(env.nats.url, stream, 5);
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

void t.test("the relay publishes signup-service's rows only, not another producer's", async (t) => {
  const { app, env } = await build(t);
  const ns = names(env.namespace);
  // Written first, so a relay that drains every producer's rows (in seq order) would publish it first.
  const foreign = makeEnvelope('user.profile_updated', 1, {
    userId: randomUUID(),
    profileVersion: 2,
    changed: ['bio'],
  });
  await env.prisma.$transaction((tx) =>
    enqueuePrisma(tx, {
      producer: 'profile-service',
      subject: ns.subjects.userProfileUpdated,
      envelope: foreign,
    }),
  );
  t.equal((await postSignup(app, signupBody())).statusCode, 201);
  const own = await env.prisma.outboxEvent.findFirstOrThrow({
    where: { type: 'user.signed_up' },
    select: { id: true },
  });
  const first = await readStream(env.nats.url, ns.streams.users, 1);
  t.same(first.ids, [own.id], "the first message is the signup's event");
  await app.close();
  const row = await env.prisma.outboxEvent.findUniqueOrThrow({ where: { id: foreign.id } });
  t.equal(row.publishedAt, null, "the other producer's row is left for its own relay");
  t.equal(
    (await env.nats.jsm.streams.info(ns.streams.users)).state.messages,
    1,
    'the stream holds the signup event only',
  );
});
